"""The Python blob sizes are the Java FeatureCodec's (its javadoc's 65 x 192 figures)."""

import pytest

from feature_codec import bytes_per_item, encoded_bytes


def test_sizes_match_the_java_codec():
    assert bytes_per_item(1, 65, 192) == {"fp32": 49_930, "fp16": 24_970, "int8": 12_750}


def test_layers_multiply_the_rows():
    assert encoded_bytes("int8", 2, 65, 192) - 10 == 2 * (12_750 - 10)


def test_unknown_codec_is_named():
    with pytest.raises(ValueError, match=r"\[int4\]"):
        encoded_bytes("int4", 1, 1, 1)
