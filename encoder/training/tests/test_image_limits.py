"""The Python side refuses the images the Java side refuses, with the same limits and reasons."""

import io
import re
from pathlib import Path

import pytest
from PIL import Image

import data
from make_image_fixtures import header_only_png

JAVA_PREPROCESSOR = Path(__file__).resolve().parents[2] / "src/main/java/io/fuserank/encoder/ImagePreprocessor.java"
JAVA_REASONS = Path(__file__).resolve().parents[2] / "src/main/java/io/fuserank/encoder/ImageDecodeException.java"


def java_long(expression: str) -> int:
    """A Java long literal as ``Limits.DEFAULT`` writes it: ``32L << 20`` or ``40_000_000L``."""
    match = re.fullmatch(r"(\d[\d_]*)L?(?:\s*<<\s*(\d+))?", expression.strip())
    assert match, f"cannot read the Java expression [{expression}]"
    return int(match.group(1).replace("_", "")) << int(match.group(2) or 0)


def test_limits_equal_the_java_defaults():
    source = JAVA_PREPROCESSOR.read_text(encoding="utf-8")
    match = re.search(r"Limits DEFAULT = new Limits\(([^,]+),([^)]+)\);", source)
    assert match, f"no Limits.DEFAULT in {JAVA_PREPROCESSOR}"
    assert (data.MAX_ENCODED_BYTES, data.MAX_PIXELS) == (java_long(match.group(1)), java_long(match.group(2)))
    assert Image.MAX_IMAGE_PIXELS == data.MAX_PIXELS


def test_reasons_are_java_reasons():
    java = set(re.findall(r"^\s+([A-Z_]+),?$", JAVA_REASONS.read_text(encoding="utf-8"), re.M))
    assert {"EMPTY", "TOO_LARGE_ENCODED", "TOO_MANY_PIXELS", "UNSUPPORTED_FORMAT", "CORRUPT"} <= java


def reason(source) -> str:
    with pytest.raises(data.ImageRejected) as e:
        data.check_image(source, 32)
    return e.value.reason


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_header_over_the_pixel_limit_is_refused_before_decoding():
    # 7000 x 7000 = 49 M pixels: over the limit, under PIL's error threshold (twice it).
    assert reason(header_only_png(7000, 7000)) == "TOO_MANY_PIXELS"
    # 20000 x 20000: over twice the limit, where PIL itself raises DecompressionBombError.
    assert reason(header_only_png(20000, 20000)) == "TOO_MANY_PIXELS"
    with pytest.raises(data.ImageRejected, match=r"\[7000 x 7000\] = \[49000000\] pixels"):
        data.load_rgb(header_only_png(7000, 7000))


def test_exactly_the_pixel_limit_passes_the_header_check_like_java():
    # Java refuses width * height > limit: 8000 x 5000 is the limit itself, so only the missing
    # pixel data stops it; one row more is over.
    assert 8000 * 5000 == data.MAX_PIXELS
    assert reason(header_only_png(8000, 5000)) == "CORRUPT"
    assert reason(header_only_png(8000, 5001)) == "TOO_MANY_PIXELS"


def test_encoded_size_empty_format_and_damage_are_refused(tmp_path):
    assert reason(b"") == "EMPTY"
    assert reason(b"\0" * (data.MAX_ENCODED_BYTES + 1)) == "TOO_LARGE_ENCODED"
    assert reason(b"not an image at all") == "UNSUPPORTED_FORMAT"
    tiff = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tiff, format="TIFF")
    assert reason(tiff.getvalue()) == "UNSUPPORTED_FORMAT"
    whole = png(40, 40)
    assert reason(whole[: len(whole) // 2]) == "CORRUPT"


def test_a_good_image_passes(tmp_path):
    path = tmp_path / "ok.png"
    path.write_bytes(png(40, 30))
    data.check_image(path, 32)
    assert data.load_rgb(path).shape == (30, 40, 3)
