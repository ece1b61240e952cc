"""Importers: published checkpoints, read as a user has them on disk, written as fuserank bundles.

Each family's importer loads the source model with its own code (Hugging Face ``transformers``
for BLIP), exports the three graphs of the bundle contract, declares its fusion inputs
(``fusion_contract.py``), and writes reference outputs computed by the source model's own
forward pass. ``import_model.py`` is the command line. The Hugging Face importers (``hf_blip``,
``hf_vilt``, ``hf_bridgetower``) read, check and write what they share with ``hf_checkpoint``.
"""


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be imported; the message names the file or field."""
