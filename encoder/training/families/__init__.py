"""Model definitions of published model families, written from their papers and checked against
the source code's own forward pass (fixtures under ``tests/fixtures/<family>/``).

Unlike ``model.py`` (our own models, trained here), each module here reproduces a published
architecture exactly, so that a released checkpoint's weights load onto it and give the source's
numbers. Parameter names are ours; each family's checkpoint module maps the source's names.
"""
