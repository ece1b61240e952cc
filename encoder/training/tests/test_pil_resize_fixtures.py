"""The PIL-rule side of ``data.py`` and the fixtures Java's ``PilResampleFixtureTest`` reads.

The committed fixtures must be exactly what ``make_pil_resize_fixtures.py`` writes with the
installed Pillow and transformers, so they cannot go stale when either changes.
"""

from __future__ import annotations

import io
import numpy as np
import pytest
from PIL import Image

import data
from make_pil_resize_fixtures import DEFAULT_OUT, generate


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("pil_resize")
    return out, generate(out)


def test_committed_fixtures_are_what_the_generator_writes(regenerated):
    tmp_path, index = regenerated
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(DEFAULT_OUT) for p in DEFAULT_OUT.rglob("*") if p.is_file())
    assert written == committed
    for path in written:
        assert (tmp_path / path).read_bytes() == (DEFAULT_OUT / path).read_bytes(), f"{path} is stale: rerun the generator"
    assert len(index["resample"]) >= 10 and len(index["processor_cases"]) >= 10
    assert sum(p.stat().st_size for p in DEFAULT_OUT.rglob("*") if p.is_file()) < 1 << 20


def test_processor_tensor_is_the_pil_resize_normalised_by_data(regenerated):
    """transformers' rescale (float64 times 1/255, cast to float32) then float32 normalize equals
    ``data.normalize`` on the 8-bit resize, bit for bit: the Java side relies on it."""
    tmp_path, index = regenerated
    mean, std = index["processor"]["image_mean"], index["processor"]["image_std"]
    for case in index["processor_cases"]:
        h, w = case["height"], case["width"]
        resized = np.frombuffer((tmp_path / case["rgb"]).read_bytes(), dtype=np.uint8).reshape(h, w, 3)
        expected = np.frombuffer((tmp_path / case["pixel_values"]).read_bytes(), dtype="<f4").reshape(3, h, w)
        np.testing.assert_array_equal(data.normalize(resized.astype(np.float32), mean, std), expected, err_msg=case["name"])


def test_the_two_rescales_agree_on_every_8_bit_value():
    values = np.arange(256)
    ours = values.astype(np.float32) / np.float32(255)
    transformers_rescale = (values.astype(np.float64) * (1 / 255)).astype(np.float32)
    np.testing.assert_array_equal(ours, transformers_rescale)


def test_pil_rules_never_subsample():
    assert data.subsample_step(6300, 6300, 384) == 4
    for rule in ("pil_bilinear", "pil_bicubic", "pil_lanczos"):
        assert data.subsample_step(6300, 6300, 384, rule) == 1
    with pytest.raises(ValueError, match=r"\[bicubic\]"):
        data.subsample_step(10, 10, 2, "bicubic")


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_transform_with_a_pil_rule_is_pil_resize_then_normalize():
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (40, 70, 3), dtype=np.uint8)  # shorter side 40 >= 4 x 8: ours would subsample
    transform = data.ImageTransform(8, (0.4, 0.5, 0.6), (0.2, 0.3, 0.25), resize="pil_bicubic")
    resized = np.asarray(Image.fromarray(rgb).resize((8, 8), Image.Resampling.BICUBIC), dtype=np.float32)
    expected = data.normalize(resized, transform.mean, transform.std)
    np.testing.assert_array_equal(transform(_png(rgb)).numpy(), expected)
    assert transform.manifest()["resize"] == "pil_bicubic"
    assert data.ImageTransform(8).manifest()["resize"] == data.BILINEAR_HALF_PIXEL


def test_unknown_rule_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"\[area\] is not one of \['bilinear_half_pixel_no_antialias', 'pil_bicubic'"):
        data.ImageTransform(8, resize="area")
    with pytest.raises(ValueError, match=r"\[bilinear_half_pixel_no_antialias\] is not a PIL rule"):
        data.resize_pil(np.zeros((2, 2, 3), dtype=np.uint8), 4, data.BILINEAR_HALF_PIXEL)
