"""Write the fixtures of the Java ``PilResampleFixtureTest``: what PIL and transformers make of them.

Imported checkpoints (BLIP's ``BlipImageProcessor``, ALBEF's torchvision ``Resize(..., BICUBIC)``)
resize PIL images with PIL's convolution resampling, and Java's ``PilResample`` must give the
same bytes. Two kinds of fixture, listed in ``index.json``:

* ``resample``: seeded random 8-bit RGB arrays (noise, and hard 0/255 blocks whose bicubic and
  Lanczos overshoot must clamp) of odd sizes, each resized by PIL's own
  ``Image.resize((w, h), filter)`` with BILINEAR, BICUBIC and LANCZOS: downscales by 1.3x to 100x
  (antialiased), upscales by 1.5x to 32x, one axis unchanged, 1-pixel-wide sources and outputs.
  ``source/<name>.rgb`` is the input, ``<filter>/<name>.rgb`` PIL's output, raw uint8 ``[H, W, 3]``.
* ``processor``: image files of the Java image fixtures (``../images``: gray, gray with tRNS,
  gray + alpha, palette with tRNS, 16-bit RGBA, RGB, EXIF-rotated, JPEG), decoded by
  ``data.load_rgb`` without subsampling (the PIL rules never subsample), then given as an RGB PIL
  image to transformers' PIL-backend BLIP processor (``BlipImageProcessorPil``: bicubic resize,
  rescale by 1/255, CLIP mean and std), at square and non-square sizes.
  ``processor/<name>.rgb`` is PIL's bicubic resize of the decoded pixels (uint8 ``[h, w, 3]``),
  ``processor/<name>.f32`` the processor's ``pixel_values[0]`` (little-endian float32 ``[3, h, w]``).

Deterministic for given Pillow, numpy and transformers versions (recorded in the index);
``test_pil_resize_fixtures.py`` regenerates them and compares. Run from ``encoder/training``::

    python tests/make_pil_resize_fixtures.py [../src/test/resources/pil_resize]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import PIL
import transformers
from PIL import Image
from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import data  # noqa: E402

RESOURCES = Path(__file__).resolve().parents[2] / "src" / "test" / "resources"
DEFAULT_OUT = RESOURCES / "pil_resize"
IMAGES = RESOURCES / "images"

FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}

# name, source width x height, output width x height, pattern
RESAMPLE_CASES = [
    ("down_odd", (33, 19), (12, 12), "noise"),
    ("up_odd", (33, 19), (64, 41), "noise"),
    ("mixed", (61, 47), (29, 53), "noise"),
    ("down_100x", (300, 7), (3, 5), "noise"),
    ("down_horizontal_only", (257, 13), (7, 13), "noise"),
    ("down_vertical_only", (13, 257), (13, 3), "noise"),
    ("to_one_pixel", (97, 89), (1, 1), "noise"),
    ("one_pixel_wide", (1, 17), (5, 6), "noise"),
    ("one_pixel_high", (17, 1), (3, 9), "noise"),
    ("up_32x", (3, 2), (97, 61), "noise"),
    ("slightly_down", (129, 128), (127, 127), "noise"),
    ("blocks_down", (71, 53), (23, 17), "blocks"),
    ("blocks_up", (9, 7), (40, 31), "blocks"),
]

# name, image file under ../images, output height x width
PROCESSOR_CASES = [
    ("rgb", "rgb.png", (16, 16)),
    ("rgb_non_square", "rgb.png", (20, 28)),
    ("gray8", "gray8.png", (16, 16)),
    ("gray8_trns", "gray8_trns.png", (16, 16)),
    ("la", "la.png", (16, 16)),
    ("palette8_trns", "palette8_trns.png", (24, 24)),
    ("rgba16", "rgba16.png", (16, 16)),
    ("orientation6", "orientation6.png", (16, 16)),
    ("large_rgb", "large_rgb.png", (16, 16)),
    ("large_palette8_trns", "large_palette8_trns.png", (12, 20)),
    ("baseline_jpeg", "baseline.jpg", (16, 16)),
    ("large_baseline_jpeg", "large_baseline.jpg", (32, 32)),
]


def _source(width: int, height: int, pattern: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if pattern == "noise":
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    # 0/255 blocks of random sizes per channel: the strongest overshoot a kernel can make
    y, x = np.mgrid[0:height, 0:width]
    out = np.empty((height, width, 3), dtype=np.uint8)
    for c in range(3):
        bw, bh = rng.integers(1, 5, 2)
        out[..., c] = np.where(((x // bw) + (y // bh) + c) % 2 == 0, 255, 0)
    return out


def _write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)


def generate(out: Path) -> dict:
    """Writes every fixture under ``out`` and returns the index it also writes there."""
    resample = []
    for seed, (name, (width, height), (out_width, out_height), pattern) in enumerate(RESAMPLE_CASES):
        source = _source(width, height, pattern, seed)
        _write(out / "source" / f"{name}.rgb", source.tobytes())
        outputs = {}
        for filter_name, resample_filter in FILTERS.items():
            resized = np.asarray(Image.fromarray(source, "RGB").resize((out_width, out_height), resample_filter))
            outputs[filter_name] = f"{filter_name}/{name}.rgb"
            _write(out / outputs[filter_name], resized.tobytes())
        resample.append({"name": name, "width": width, "height": height, "out_width": out_width,
                         "out_height": out_height, "source": f"source/{name}.rgb", "outputs": outputs})

    processor_cases = []
    for name, file, (out_height, out_width) in PROCESSOR_CASES:
        rgb = data.load_rgb(IMAGES / file)  # no size: the PIL rules never subsample
        image = Image.fromarray(rgb, "RGB")
        resized = np.asarray(image.resize((out_width, out_height), Image.Resampling.BICUBIC))
        processor = BlipImageProcessorPil(size={"height": out_height, "width": out_width})
        pixels = processor(images=image, return_tensors="np")["pixel_values"][0]
        assert pixels.dtype == np.float32 and pixels.shape == (3, out_height, out_width), (pixels.dtype, pixels.shape)
        _write(out / "processor" / f"{name}.rgb", resized.tobytes())
        _write(out / "processor" / f"{name}.f32", pixels.astype("<f4").tobytes())
        processor_cases.append({
            "name": name, "image": f"images/{file}", "decoded_width": int(rgb.shape[1]),
            "decoded_height": int(rgb.shape[0]), "height": out_height, "width": out_width,
            "rgb": f"processor/{name}.rgb", "pixel_values": f"processor/{name}.f32",
        })

    processor = BlipImageProcessorPil()
    index = {
        "generator": "encoder/training/tests/make_pil_resize_fixtures.py",
        "pillow": PIL.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "rgb_layout": "uint8 [height, width, 3]",
        "tensor_layout": "float32 little-endian [3, height, width]",
        "processor": {"class": type(processor).__name__, "resample": int(processor.resample),
                      "rescale_factor": processor.rescale_factor,
                      "image_mean": list(processor.image_mean), "image_std": list(processor.image_std)},
        "resample": resample,
        "processor_cases": processor_cases,
    }
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return index


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    generate(target)
    print(f"wrote {target}")
