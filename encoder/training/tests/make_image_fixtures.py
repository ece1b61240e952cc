"""Write the image fixtures of the Java ``ImagePreprocessorFixtureTest`` and what Python makes of them.

The Java encoder must turn an image file into exactly the tensor ``data.ImageTransform`` gives,
so each fixture here is one decoder path of ``data.load_rgb``: palette, gray, 16-bit, alpha,
tRNS transparency, GIF, BMP, WebP, EXIF and XMP orientation (JPEG, PNG and WebP), JPEG
flavours, an embedded (non-sRGB) ICC profile that must be ignored as PIL ignores it. Every
image is small and non-square (33 x 19) so the resize to 12 x 12 is non-trivial and a rotation
shows in the dimensions. The ``large_*`` fixtures (200 x 146) are large enough for the 12-pixel
input that only every 3rd pixel of every 3rd row is kept (``data.subsample_step``), with sides
not divisible by 3, so a mirrored or rotated image shows whether the kept pixels are those of
the image as stored. For each fixture the script writes, under ``expected/``:

* ``<file>.rgb``: ``data.load_rgb(file, SIZE)`` as raw uint8 ``[H, W, 3]`` (after the EXIF transpose);
* ``<file>.f32``: ``data.ImageTransform(SIZE, MEAN, STD)`` as raw little-endian float32
  ``[3, SIZE, SIZE]``;

and ``index.json`` lists them with their shapes and whether the decoders must agree exactly
(``lossless``). Deterministic: the same PIL and numpy versions write the same bytes.

Run with the training environment's Python, from ``encoder/training``; the output directory
defaults to the Java test resources::

    python tests/make_image_fixtures.py [../src/test/resources/images]
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import data  # noqa: E402

WIDTH, HEIGHT = 33, 19
LARGE_WIDTH, LARGE_HEIGHT = 200, 146
SIZE = 12
# CLIP's statistics: not 0.5, so the float32 casts of mean and std are exercised.
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "src" / "test" / "resources" / "images"


# ------------------------------------------------------------------ pixel patterns


def _rgb(width: int = WIDTH, height: int = HEIGHT, noise: int = 20) -> np.ndarray:
    """Smooth gradients, seeded noise and a sharp rectangle: resizing and rotating all show."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width]
    r = x * 255 // (width - 1)
    g = y * 255 // (height - 1)
    b = (x * 7 + y * 11) % 256
    image = np.stack([r, g, b], axis=2) + rng.integers(-noise, noise + 1, (height, width, 3))
    image[4:10, 3:12] = (250, 20, 40)  # a red block near the top left: orientation is visible
    return np.clip(image, 0, 255).astype(np.uint8)


def _alpha() -> np.ndarray:
    """Every alpha value class: 0, 255 and partial ones."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    alpha = (x * 255 // (WIDTH - 1) + y * 3) % 256
    alpha[:, :3] = 0
    alpha[:, -3:] = 255
    return alpha.astype(np.uint8)


def _gray() -> np.ndarray:
    return np.asarray(Image.fromarray(_rgb()).convert("L"))


def _gray16(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """16-bit values whose low bytes are not zero, so ``v >> 8`` differs from rounding."""
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 1771 + y * 977 + (x * y) % 251) % 65536).astype(np.uint16)


def _with_low_byte(values: np.ndarray) -> np.ndarray:
    """uint8 values as the high bytes of 16-bit samples, with a varying low byte underneath."""
    low = np.arange(values.size, dtype=np.uint16).reshape(values.shape) * 37 % 256
    return values.astype(np.uint16) * 256 + low


def _palette_image(bits: int, width: int = WIDTH, height: int = HEIGHT) -> Image.Image:
    colours = 1 << bits
    indices = (np.arange(height)[:, None] // 3 + np.arange(width)[None, :] // 4) % colours
    image = Image.fromarray(indices.astype(np.uint8), "P")
    rng = np.random.default_rng(bits)
    image.putpalette(rng.integers(0, 256, colours * 3).astype(np.uint8).tobytes())
    return image


# ------------------------------------------------------------------ encoders


def _save(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _raw_png(samples: np.ndarray, color_type: int, bit_depth: int) -> bytes:
    """A PNG written by hand, for sample layouts PIL cannot save (16-bit RGB/RGBA/LA, 4-bit gray).

    ``samples`` is ``[H, W, channels]`` (or ``[H, W]``) of the PNG's sample values; 16-bit
    samples are stored big-endian, sub-byte ones packed most significant bits first.
    """
    height, width = samples.shape[:2]
    if bit_depth == 16:
        rows = samples.astype(">u2").reshape(height, -1).view(np.uint8).reshape(height, -1)
    elif bit_depth == 8:
        rows = samples.astype(np.uint8).reshape(height, -1)
    else:
        rows = np.packbits(np.unpackbits(samples.astype(np.uint8)[..., None], axis=-1)[..., -bit_depth:]
                           .reshape(height, -1), axis=1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw, 9))
            + _png_chunk(b"IEND", b""))


def header_only_png(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring ``width x height`` RGB pixels, one tiny IDAT and
    IEND: a few dozen bytes whose header alone says it is over a pixel limit (a decompression bomb
    as a decoder first sees it)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _png_chunk(b"IEND", b""))


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def _xmp(orientation: int) -> bytes:
    return (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="'
            + str(orientation).encode() + b'"/></rdf:RDF></x:xmpmeta>')


def _s15f16(*values: float) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _display_p3_profile() -> bytes:
    """A minimal ICC v2 display profile with Display P3's primaries and a 2.2 gamma.

    Phones embed such a profile; PIL ignores it (the samples stay as stored) while a
    colour-managed decoder would convert to sRGB, so the fixtures built with it catch that.
    """
    description = b"fuserank Display P3 fixture\0"
    tags = {
        b"desc": b"desc" + bytes(4) + struct.pack(">I", len(description)) + description + bytes(4 + 4 + 2 + 1 + 67),
        b"wtpt": b"XYZ " + bytes(4) + _s15f16(0.9642, 1.0, 0.8249),
        b"rXYZ": b"XYZ " + bytes(4) + _s15f16(0.5151, 0.2412, -0.0011),
        b"gXYZ": b"XYZ " + bytes(4) + _s15f16(0.2920, 0.6922, 0.0419),
        b"bXYZ": b"XYZ " + bytes(4) + _s15f16(0.1571, 0.0666, 0.7841),
        b"rTRC": b"curv" + bytes(4) + struct.pack(">IH", 1, round(2.2 * 256)) + bytes(2),
    }
    tags[b"gTRC"] = tags[b"bTRC"] = tags[b"rTRC"]
    table, data, offset = b"", b"", 128 + 4 + 12 * len(tags)
    for signature, payload in tags.items():
        payload += bytes(-len(payload) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(payload))
        data += payload
    size = offset + len(data)
    header = (struct.pack(">I", size) + bytes(4) + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + bytes(12) + b"acsp"
              + bytes(4 + 4 + 4 + 4 + 8 + 4) + _s15f16(0.9642, 1.0, 0.8249) + bytes(4 + 16 + 28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def _with_junk_before_eoi(jpeg: bytes) -> bytes:
    """Extraneous bytes before the EOI marker: libjpeg warns, PIL decodes it anyway."""
    assert jpeg.endswith(b"\xff\xd9")
    return jpeg[:-2] + b"\x00\x11\x22" + jpeg[-2:]


def _gif() -> bytes:
    """Two frames; only the first one counts. Palette index 3 is the transparent colour."""
    first, second = _palette_image(3), _palette_image(3).transpose(Image.Transpose.ROTATE_180)
    return _save(first, "GIF", save_all=True, append_images=[second], transparency=3, duration=100, loop=0)


def fixtures() -> dict[str, tuple[bytes, bool]]:
    """``{file name: (encoded bytes, lossless)}``; lossless means Java must agree byte for byte."""
    rgb, alpha, gray = _rgb(), _alpha(), _gray()
    rgba = np.dstack([rgb, alpha])
    palette8 = _palette_image(8)
    gray16 = _gray16()
    p3 = _display_p3_profile()
    out: dict[str, tuple[bytes, bool]] = {
        "gray8.png": (_save(Image.fromarray(gray, "L"), "PNG"), True),
        "gray8_trns.png": (_save(Image.fromarray(gray, "L"), "PNG", transparency=int(gray[5, 5])), True),
        "gray16.png": (_save(Image.fromarray(gray16), "PNG"), True),
        "gray4.png": (_raw_png(gray[..., None] >> 4, color_type=0, bit_depth=4), True),
        "bilevel.png": (_save(Image.fromarray(gray > 128).convert("1"), "PNG"), True),
        "la.png": (_save(Image.fromarray(np.dstack([gray, alpha]), "LA"), "PNG"), True),
        "la16.png": (_raw_png(np.dstack([gray16, _with_low_byte(alpha)]), color_type=4, bit_depth=16), True),
        "rgb.png": (_save(Image.fromarray(rgb, "RGB"), "PNG"), True),
        "rgb_trns.png": (_save(Image.fromarray(rgb, "RGB"), "PNG", transparency=tuple(int(v) for v in rgb[6, 6])), True),
        "rgb16.png": (_raw_png(_with_low_byte(rgb), color_type=2, bit_depth=16), True),
        "rgba.png": (_save(Image.fromarray(rgba, "RGBA"), "PNG"), True),
        "rgba16.png": (_raw_png(_with_low_byte(rgba), color_type=6, bit_depth=16), True),
        "palette8_trns.png": (_save(palette8, "PNG", transparency=bytes(range(0, 256))), True),
        "palette4_trns.png": (_save(_palette_image(4), "PNG", bits=4, transparency=bytes([0, 64, 128, 200, 255])), True),
        "palette2.png": (_save(_palette_image(2), "PNG", bits=2), True),
        "palette1.png": (_save(_palette_image(1), "PNG", bits=1), True),
        "palette_trns.gif": (_gif(), True),
        "rgb.bmp": (_save(Image.fromarray(rgb, "RGB"), "BMP"), True),
        "palette.bmp": (_save(palette8, "BMP"), True),
        "rgb_lossless.webp": (_save(Image.fromarray(rgb, "RGB"), "WEBP", lossless=True), True),
        "rgba_lossless.webp": (_save(Image.fromarray(rgba, "RGBA"), "WEBP", lossless=True), True),
        "orientation6_lossless.webp": (_save(Image.fromarray(rgb, "RGB"), "WEBP", lossless=True, exif=_exif(6)), True),
        "rgb_lossy.webp": (_save(Image.fromarray(rgb, "RGB"), "WEBP", quality=90), False),
        "baseline.jpg": (_save(Image.fromarray(rgb, "RGB"), "JPEG", quality=95), False),
        "orientation6.jpg": (_save(Image.fromarray(rgb, "RGB"), "JPEG", quality=95, exif=_exif(6)), False),
        "orientation3.jpg": (_save(Image.fromarray(rgb, "RGB"), "JPEG", quality=95, exif=_exif(3)), False),
        "xmp_orientation8.jpg": (_save(Image.fromarray(rgb, "RGB"), "JPEG", quality=95, xmp=_xmp(8)), False),
        "progressive.jpg": (_save(Image.fromarray(rgb, "RGB"), "JPEG", quality=90, progressive=True), False),
        "gray.jpg": (_save(Image.fromarray(gray, "L"), "JPEG", quality=95), False),
        "cmyk.jpg": (_save(Image.fromarray(rgb, "RGB").convert("CMYK"), "JPEG", quality=95), False),
        "extraneous_bytes.jpg": (_with_junk_before_eoi(_save(Image.fromarray(rgb, "RGB"), "JPEG", quality=95)), False),
        "display_p3.jpg": (_save(Image.fromarray(rgb, "RGB"), "JPEG", quality=95, icc_profile=p3), False),
        "display_p3.png": (_save(Image.fromarray(rgb, "RGB"), "PNG", icc_profile=p3), True),
        "display_p3_lossless.webp": (_save(Image.fromarray(rgb, "RGB"), "WEBP", lossless=True, icc_profile=p3), True),
    }
    # Every EXIF orientation on a lossless PNG (eXIf chunk): the mirror/rotate logic exactly.
    for orientation in range(1, 9):
        out[f"orientation{orientation}.png"] = (_save(Image.fromarray(rgb, "RGB"), "PNG", exif=_exif(orientation)), True)
    out.update(_large_fixtures())
    return out


def _large_fixtures() -> dict[str, tuple[bytes, bool]]:
    """Images the decoders subsample: each reader's subsampling path, and every orientation after it."""
    rgb = _rgb(LARGE_WIDTH, LARGE_HEIGHT, noise=0)  # every pixel differs from its neighbours already; noise would only add bytes
    y, x = np.mgrid[0:LARGE_HEIGHT, 0:LARGE_WIDTH]
    alpha = ((x + y * 3) % 256).astype(np.uint8)
    rgb_image = Image.fromarray(rgb, "RGB")
    palette8 = _palette_image(8, LARGE_WIDTH, LARGE_HEIGHT)
    out: dict[str, tuple[bytes, bool]] = {
        "large_rgb.png": (_save(rgb_image, "PNG"), True),
        "large_rgba16.png": (_raw_png(np.dstack([rgb, alpha]).astype(np.uint16) * 257, color_type=6, bit_depth=16), True),
        "large_gray16.png": (_save(Image.fromarray(_gray16(LARGE_WIDTH, LARGE_HEIGHT)), "PNG"), True),
        "large_palette8_trns.png": (_save(palette8, "PNG", transparency=bytes(range(0, 256))), True),
        "large_palette1.png": (_save(_palette_image(1, LARGE_WIDTH, LARGE_HEIGHT), "PNG", bits=1), True),
        "large_palette.gif": (_save(palette8, "GIF"), True),
        "large_palette.bmp": (_save(palette8, "BMP"), True),
        "large_rgb_lossless.webp": (_save(rgb_image, "WEBP", lossless=True), True),
        "large_orientation6_lossless.webp": (_save(rgb_image, "WEBP", lossless=True, exif=_exif(6)), True),
        "large_rgb_lossy.webp": (_save(rgb_image, "WEBP", quality=90), False),
        "large_baseline.jpg": (_save(rgb_image, "JPEG", quality=95), False),
        "large_progressive.jpg": (_save(rgb_image, "JPEG", quality=90, progressive=True), False),
        "large_cmyk.jpg": (_save(rgb_image.convert("CMYK"), "JPEG", quality=95), False),
        "large_orientation6.jpg": (_save(rgb_image, "JPEG", quality=95, exif=_exif(6)), False),
    }
    for orientation in range(2, 9):
        out[f"large_orientation{orientation}.png"] = (_save(rgb_image, "PNG", exif=_exif(orientation)), True)
    return out


def main(argv: list[str]) -> None:
    root = Path(argv[0]) if argv else DEFAULT_OUT
    (root / "expected").mkdir(parents=True, exist_ok=True)
    transform = data.ImageTransform(SIZE, MEAN, STD)
    entries = []
    for name, (encoded, lossless) in sorted(fixtures().items()):
        (root / name).write_bytes(encoded)
        rgb = data.load_rgb(encoded, SIZE)
        tensor = transform(encoded).numpy()
        assert tensor.shape == (3, SIZE, SIZE) and tensor.dtype == np.float32
        (root / "expected" / f"{name}.rgb").write_bytes(np.ascontiguousarray(rgb).tobytes())
        (root / "expected" / f"{name}.f32").write_bytes(tensor.astype("<f4").tobytes())
        with Image.open(io.BytesIO(encoded)) as image:
            mode = image.mode
        entries.append({
            "file": name,
            "pil_mode": mode,
            "lossless": lossless,
            "height": int(rgb.shape[0]),
            "width": int(rgb.shape[1]),
            "rgb": f"expected/{name}.rgb",
            "tensor": f"expected/{name}.f32",
        })
    index = {
        "generator": "encoder/training/tests/make_image_fixtures.py",
        "size": SIZE,
        "mean": list(MEAN),
        "std": list(STD),
        "rgb_layout": "uint8 [height, width, 3], data.load_rgb",
        "tensor_layout": "float32 little-endian [3, size, size], data.ImageTransform",
        "fixtures": entries,
    }
    (root / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"wrote {len(entries)} fixtures to {root} ({total} bytes)")


if __name__ == "__main__":
    main(sys.argv[1:])
