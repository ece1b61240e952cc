"""Sizes of the token-feature blobs the index stores, one per codec.

The blob format is defined by the Java ``FeatureCodec`` (encoder/, the lowest module that reads
and writes it): a 10-byte header, then ``[layers, tokens, width]`` values as fp32 (4 bytes each),
fp16 (2 bytes each) or int8 (per token row a float32 scale, then one signed byte per value).
This module is the Python side's one copy of those sizes, for the costs a bundle's manifest and
the importers report; ``test_feature_codec.py`` checks it against the figures the Java class
documents.
"""

from __future__ import annotations

CODECS = ("fp32", "fp16", "int8")
HEADER_BYTES = 10


def encoded_bytes(codec: str, layers: int, tokens: int, width: int) -> int:
    """Bytes of one blob holding ``layers x tokens`` rows of ``width`` values in ``codec``."""
    rows = layers * tokens
    if codec == "fp32":
        body = rows * width * 4
    elif codec == "fp16":
        body = rows * width * 2
    elif codec == "int8":
        body = rows * (4 + width)
    else:
        raise ValueError(f"unknown codec [{codec}]; valid codecs: {list(CODECS)}")
    return HEADER_BYTES + body


def bytes_per_item(layers: int, tokens: int, width: int) -> dict[str, int]:
    """The stored blob's size in every codec, for a manifest's costs."""
    return {codec: encoded_bytes(codec, layers, tokens, width) for codec in CODECS}
