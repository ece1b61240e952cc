"""Annotations, caption preprocessing, image preprocessing and the retrieval datasets.

Everything here is shared with the Java side: the bulk indexer and the plugin must turn an image
file and a caption into exactly the tensors the model saw in training. So the caption cleaning is
ALBEF's (arXiv 2107.07651, ``dataset/utils.py::pre_caption``) and the image pipeline is defined
step by step in integer / float32 arithmetic instead of leaning on PIL's resamplers, which Java's
AWT cannot reproduce.

The image pipeline, in order (Java repeats each step):

1. decode, apply the EXIF orientation tag;
2. to 8-bit RGB; images with alpha are composited over white with
   ``out = (c * a + 255 * (255 - a) + 127) // 255`` per channel (integers);
   16-bit grayscale keeps the high byte (``v >> 8``);
3. resize to ``size x size`` by the bundle's rule (``RESIZE_RULES``): ours is bilinear with
   half-pixel centres, no antialiasing, in float32, horizontal pass first, then vertical (see
   ``resize_bilinear``); imported checkpoints name PIL's resamplers (``resize_pil``), which
   Java reproduces byte for byte (``PilResample``);
4. ``(v / 255 - mean[c]) / std[c]`` in float32, laid out CHW.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

ImageSource = Union[str, os.PathLike, bytes, bytearray]

_PUNCTUATION = re.compile(r"([,.'!?\"()*#:;~])")
_WHITESPACE_RUN = re.compile(r"\s{2,}")
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


# --------------------------------------------------------------------------------------------
# captions and annotations


def pre_caption(caption: str, max_words: int = 30) -> str:
    """Clean a caption exactly as ALBEF's ``pre_caption`` does (arXiv 2107.07651).

    Lowercase; drop ``, . ' ! ? " ( ) * # : ; ~``; ``-`` and ``/`` become spaces; ``<person>``
    becomes ``person``; runs of two or more whitespace characters become one space; strip; keep
    the first ``max_words`` space-separated words. Like ALBEF, a *single* tab or newline between
    words is left alone (the tokenizer's pre-tokenizer splits on it anyway). Checked against
    ALBEF's own function on tricky captions (``tests/test_albef.py``).
    """
    caption = (
        _PUNCTUATION.sub("", caption.lower())
        .replace("-", " ")
        .replace("/", " ")
        .replace("<person>", "person")
    )
    caption = _WHITESPACE_RUN.sub(" ", caption)
    caption = caption.rstrip("\n").strip(" ")
    words = caption.split(" ")
    if len(words) > max_words:
        caption = " ".join(words[:max_words])
    return caption


def load_annotations(path: Path) -> list[dict]:
    """Read a Karpathy-format annotation file: ``[{"image": rel_path, "caption": ...}, ...]``.

    COCO's Karpathy *train* file has one caption string per entry while the val/test files have
    a list per image; both are accepted and every returned entry has ``caption`` as a list, so
    the datasets need only one code path. Other keys are kept as they are.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"annotation file [{path}] is not valid JSON: {e}") from e
    if not isinstance(raw, list):
        raise ValueError(f"annotation file [{path}] must hold a JSON list, got [{type(raw).__name__}]")
    entries = []
    for index, entry in enumerate(raw):
        where = f"annotation file [{path}] entry [{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object, got [{entry!r}]")
        image = entry.get("image")
        if not isinstance(image, str) or not image:
            raise ValueError(f"{where} needs a non-empty string \"image\", got [{image!r}]")
        caption = entry.get("caption")
        if isinstance(caption, str):
            captions = [caption]
        elif isinstance(caption, list) and caption and all(isinstance(c, str) for c in caption):
            captions = list(caption)
        else:
            raise ValueError(
                f"{where} needs \"caption\" as a string or a non-empty list of strings, "
                f"got [{caption!r}]"
            )
        entries.append({**entry, "image": image, "caption": captions})
    return entries


# --------------------------------------------------------------------------------------------
# image preprocessing


# The Java side's guards (``ImagePreprocessor.Limits.DEFAULT``), checked from the header before any
# pixel is decoded, so that a collection that indexes also trains and the other way round;
# tests/test_image_limits.py reads the Java values and asserts these equal them.
MAX_ENCODED_BYTES = 32 << 20
MAX_PIXELS = 40_000_000
# PIL's own guard at the same limit: it warns above it and raises DecompressionBombError above twice
# it, both inside Image.open, before ``_open`` can compare the header's size.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# The formats the Java decoder reads (ImagePreprocessor.READERS); MPO is PIL's name for a JPEG with
# extra frames (many cameras), whose first frame any JPEG reader decodes.
JAVA_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP"})


class ImageRejected(ValueError):
    """An image refused before or while decoding, for a ``reason`` named as the Java side's
    ``ImageDecodeException.Reason``: EMPTY, TOO_LARGE_ENCODED, TOO_MANY_PIXELS, UNSUPPORTED_FORMAT
    or CORRUPT."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def _open(source: ImageSource) -> Image.Image:
    """Opens an image after the Java side's checks: encoded size, format, then the header's
    pixel count, all before the pixels are decoded (``Image.open`` reads the header only)."""
    length = len(source) if isinstance(source, (bytes, bytearray)) else os.path.getsize(source)
    if length == 0:
        raise ImageRejected("EMPTY", "image is empty [0] bytes")
    if length > MAX_ENCODED_BYTES:
        raise ImageRejected("TOO_LARGE_ENCODED", f"image has [{length}] bytes, more than the limit [{MAX_ENCODED_BYTES}]")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except Image.DecompressionBombError as e:
        raise ImageRejected("TOO_MANY_PIXELS", f"{e} (the limit is [{MAX_PIXELS}] pixels)") from e
    except UnidentifiedImageError as e:
        raise ImageRejected("UNSUPPORTED_FORMAT", f"image format not recognised: {e}") from e
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise ImageRejected("TOO_MANY_PIXELS",
                            f"image has [{width} x {height}] = [{width * height}] pixels, more than the limit [{MAX_PIXELS}]")
    return image


def check_image(source: ImageSource, size: int) -> None:
    """Decodes ``source`` as training would and raises ``ImageRejected`` where the Java side
    would refuse it: over a limit, a format it does not read, or pixels that do not decode."""
    with _open(source) as image:
        if image.format not in JAVA_FORMATS:
            raise ImageRejected("UNSUPPORTED_FORMAT",
                                f"format [{image.format}] is not one the indexer reads {sorted(JAVA_FORMATS)}")
    load_rgb(source, size)


def _composite_over_white(rgba: np.ndarray) -> np.ndarray:
    """``out = (c * a + 255 * (255 - a) + 127) // 255`` per channel, in integers.

    Integer math with round-half-up so that Java (``(c * a + 255 * (255 - a) + 127) / 255`` on
    ints) gets the same bytes; PIL's ``alpha_composite`` rounds differently.
    """
    c = rgba[..., :3].astype(np.int32)
    a = rgba[..., 3:4].astype(np.int32)
    return ((c * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


# How many times the model's input size an image's shorter side keeps after subsampling: enough
# that the bilinear resize still sees several source pixels per output pixel.
SUBSAMPLE_FACTOR = 4

# The resize rules a bundle's manifest may name (``image.resize``), each to the PIL filter it
# reproduces, or None for ours (``resize_bilinear``). Java's ``ImagePreprocessor.ResizeRule``
# lists the same names.
BILINEAR_HALF_PIXEL = "bilinear_half_pixel_no_antialias"
RESIZE_RULES = {
    BILINEAR_HALF_PIXEL: None,
    "pil_bilinear": Image.Resampling.BILINEAR,
    "pil_bicubic": Image.Resampling.BICUBIC,
    "pil_lanczos": Image.Resampling.LANCZOS,
}


def _check_rule(resize: str) -> None:
    if resize not in RESIZE_RULES:
        raise ValueError(f"image resize rule [{resize}] is not one of {sorted(RESIZE_RULES)}")


def subsample_step(width: int, height: int, size: int, resize: str = BILINEAR_HALF_PIXEL) -> int:
    """The stride that thins a ``width x height`` image on its way to a ``size x size`` input.

    For our own rule, the largest ``s`` with ``min(width, height) / s >= SUBSAMPLE_FACTOR * size``,
    at least 1: only images far larger than the model needs are thinned (for a 384 model, a
    shorter side of 3,072 pixels or more). The Java decoder (``ImagePreprocessor.subsampleStep``)
    then never decodes the other pixels, which bounds its memory; ``load_rgb`` keeps the same ones.

    For a PIL rule, always 1: thinning would change the pixels the source model saw, and the
    pixel limit (``MAX_PIXELS``) with the Java side's memory budget already bounds the memory.
    """
    _check_rule(resize)
    if RESIZE_RULES[resize] is not None:
        return 1
    return max(1, min(width, height) // (SUBSAMPLE_FACTOR * size))


def load_rgb(source: ImageSource, size: int | None = None, resize: str = BILINEAR_HALF_PIXEL) -> np.ndarray:
    """Decode an image file (path or bytes) into uint8 RGB ``[H, W, 3]``.

    EXIF orientation is applied first (phones store rotated JPEGs). Alpha — RGBA, LA, PA, or a
    P/L/RGB image with a ``transparency`` entry — is composited over white with the integer
    formula in ``_composite_over_white``. 16-bit grayscale (PIL modes ``I;16*`` and ``I``) keeps
    the high byte, ``clip(v, 0, 65535) >> 8``, because PIL's own conversion clips at 255 and
    would turn most of such an image white. Everything else (CMYK, 1-bit, YCbCr, ...) goes
    through PIL's ``convert("RGB")``.

    With ``size`` (the model's input size), only the pixels at ``(s * i, s * j)`` of the image as
    stored, before the EXIF orientation, are kept, ``s = subsample_step(width, height, size, resize)``:
    the pixels the Java decoder's source subsampling keeps.

    Raises ``ImageRejected`` for an image over the Java side's limits (``MAX_ENCODED_BYTES``,
    ``MAX_PIXELS``, read from the header before decoding) or one whose pixels do not decode.
    """
    with _open(source) as image:
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as e:  # what PIL's decoders raise on damaged data
            raise ImageRejected("CORRUPT", f"the pixels do not decode: {e}") from e
        step = 1 if size is None else subsample_step(image.width, image.height, size, resize)
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)  # what exif_transpose applies
        rgb = _to_rgb(ImageOps.exif_transpose(image))
    return rgb if step == 1 else _keep_stored_grid(rgb, step, orientation)


def _to_rgb(image: Image.Image) -> np.ndarray:
    """An oriented image's pixels as uint8 RGB, by the mode rules of ``load_rgb``."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image).astype(np.int64)
        gray = (np.clip(values, 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in _ALPHA_MODES or "transparency" in image.info:
        return _composite_over_white(np.asarray(image.convert("RGBA")))
    return np.array(image.convert("RGB"), dtype=np.uint8)


def _keep_stored_grid(rgb: np.ndarray, step: int, orientation: int) -> np.ndarray:
    """The pixels of the oriented ``rgb`` that sat at ``(step * i, step * j)`` of the image as stored.

    Along an oriented axis that runs backwards through the stored image those start at
    ``(length - 1) % step``, else at 0. Which axes run backwards is read from where
    ``exif_transpose`` moves the top-left pixel of a 2 x 2 image with the same orientation.
    """
    marker = Image.new("L", (2, 2))
    marker.putpixel((0, 0), 255)
    marker.getexif()[ExifTags.Base.Orientation] = orientation
    row, col = np.argwhere(np.asarray(ImageOps.exif_transpose(marker)) == 255)[0]
    height, width = rgb.shape[:2]
    y0 = (height - 1) % step if row else 0
    x0 = (width - 1) % step if col else 0
    return np.ascontiguousarray(rgb[y0::step, x0::step])


def _axis_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights along one axis, all in float32 like the Java code.

    ``scale = float32(in) / float32(out)``; ``src = (x + 0.5) * scale - 0.5`` clamped to
    ``[0, in - 1]``; ``x0 = floor(src)``, ``x1 = min(x0 + 1, in - 1)``, ``t = src - x0``.
    """
    scale = np.float32(in_size) / np.float32(out_size)
    x = np.arange(out_size, dtype=np.float32)
    src = (x + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.clip(src, np.float32(0), np.float32(in_size - 1))
    x0 = np.floor(src).astype(np.int64)
    x1 = np.minimum(x0 + 1, in_size - 1)
    t = (src - x0.astype(np.float32)).astype(np.float32)
    return x0, x1, t


def resize_bilinear(rgb: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of uint8 ``[H, W, 3]`` to float32 ``[size, size, 3]`` (values 0..255).

    Half-pixel centres (``align_corners=False``), no antialiasing: the same sampling as
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``. Separable, and the
    order is fixed because float32 rounding depends on it: first the horizontal pass along the
    width, ``row[y, x] = v[y, x0] * (1 - tx) + v[y, x1] * tx``, giving ``[H, size, 3]``; then the
    vertical pass along the height, ``out[y, x] = row[y0, x] * (1 - ty) + row[y1, x] * ty``.
    Each multiply and add is one float32 operation, no fused multiply-add (Java's ``float``
    arithmetic never fuses, so it can match bit for bit). PyTorch's CPU kernel does fuse the
    source-coordinate computation, so it differs from this by up to a few 1e-3 on large images.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 [H, W, 3] array, got [{rgb.dtype} {list(rgb.shape)}]")
    if size < 1:
        raise ValueError(f"size must be positive, got [{size}]")
    height, width = rgb.shape[:2]
    values = rgb.astype(np.float32)

    x0, x1, tx = _axis_weights(width, size)
    tx = tx[None, :, None]
    rows = values[:, x0, :] * (np.float32(1) - tx) + values[:, x1, :] * tx

    y0, y1, ty = _axis_weights(height, size)
    ty = ty[:, None, None]
    out = rows[y0, :, :] * (np.float32(1) - ty) + rows[y1, :, :] * ty
    return out.astype(np.float32, copy=False)


def resize_pil(rgb: np.ndarray, size: int, resize: str) -> np.ndarray:
    """``rgb`` resized by PIL's own ``Image.resize((size, size), filter)`` with the filter the
    rule names (Pillow's defaults otherwise: no ``reducing_gap``), as float32 ``[size, size, 3]``
    holding the 8-bit result: what BLIP's image processor and ALBEF's torchvision transform do
    to a PIL image."""
    _check_rule(resize)
    resample = RESIZE_RULES[resize]
    if resample is None:
        raise ValueError(f"image resize rule [{resize}] is not a PIL rule")
    return np.asarray(Image.fromarray(rgb, "RGB").resize((size, size), resample), dtype=np.float32)


def normalize(resized: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """``(v / 255 - mean[c]) / std[c]`` in float32, HWC in, CHW out.

    For 8-bit values this is bit-identical to transformers' ``rescale`` then ``normalize``
    (``float32(v * (1 / 255))`` in float64 equals ``float32(v) / 255`` for every v in 0..255)."""
    mean32 = np.asarray(mean, dtype=np.float32).reshape(1, 1, 3)
    std32 = np.asarray(std, dtype=np.float32).reshape(1, 1, 3)
    scaled = resized.astype(np.float32, copy=False) / np.float32(255)
    out = (scaled - mean32) / std32
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


class ImageTransform:
    """The whole image pipeline: file or bytes in, ``FloatTensor [3, size, size]`` out.

    No random augmentation: training and inference share one deterministic transform so the
    image vectors stored in the index match what the model learned on. ``manifest()`` is what
    the model bundle records so Java can check it implements the same thing. ``resize`` names
    the resize rule (``RESIZE_RULES``): ours by default, a PIL one for an imported checkpoint.
    """

    def __init__(
        self,
        size: int,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        resize: str = BILINEAR_HALF_PIXEL,
    ):
        if size < 1:
            raise ValueError(f"size must be positive, got [{size}]")
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean and std need 3 values each, got [{mean}] and [{std}]")
        if any(s == 0 for s in std):
            raise ValueError(f"std must not contain zero, got [{std}]")
        _check_rule(resize)
        self.size = int(size)
        self.resize = resize
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def __call__(self, source: ImageSource) -> torch.Tensor:
        rgb = load_rgb(source, self.size, self.resize)
        if RESIZE_RULES[self.resize] is None:
            resized = resize_bilinear(rgb, self.size)
        else:
            resized = resize_pil(rgb, self.size, self.resize)
        return torch.from_numpy(normalize(resized, self.mean, self.std))

    def manifest(self) -> dict:
        return {
            "size": self.size,
            "mean": list(self.mean),
            "std": list(self.std),
            "resize": self.resize,
            "alpha": "composite_over_white",
            "exif_orientation": True,
            "channel_order": "RGB",
            "layout": "NCHW",
            "scale": 255,
        }


# --------------------------------------------------------------------------------------------
# datasets


class RetrievalTrainDataset(Dataset):
    """One item per (image, caption) pair, in file order, as ALBEF's ``re_train_dataset``.

    ``__getitem__`` returns ``(image_tensor, caption, image_index)``; ``image_index`` is the
    position of the image's entry in the annotation file, which the trainer uses to treat all
    captions of one image as positives. Decoded images are cached in memory on first use
    (``cache_images``): the datasets here are small and decoding dominates an epoch. With
    DataLoader workers each worker fills its own cache.
    """

    def __init__(
        self,
        ann_path: Path,
        image_root: Path,
        transform: ImageTransform,
        max_words: int = 30,
        cache_images: bool = True,
    ):
        self.annotations = load_annotations(ann_path)
        self.image_root = Path(image_root)
        self.transform = transform
        self.max_words = max_words
        self.cache_images = cache_images
        self.pairs: list[tuple[int, str]] = [
            (image_index, pre_caption(caption, max_words))
            for image_index, entry in enumerate(self.annotations)
            for caption in entry["caption"]
        ]
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def image(self, image_index: int) -> torch.Tensor:
        cached = self._cache.get(image_index)
        if cached is not None:
            return cached
        tensor = self.transform(self.image_root / self.annotations[image_index]["image"])
        if self.cache_images:
            self._cache[image_index] = tensor
        return tensor

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str, int]:
        image_index, caption = self.pairs[i]
        return self.image(image_index), caption, image_index


class RetrievalEvalDataset(Dataset):
    """Images of a test split plus their captions, bookkept as ALBEF's ``re_eval_dataset``.

    Walking the file in order, each caption gets the next text id: ``texts[t]`` is the caption,
    ``txt2img[t]`` its image, ``img2txt[i]`` the text ids of image ``i``. Items are images:
    ``__getitem__(i) -> (image_tensor, i)``; texts are encoded separately in one pass.
    """

    def __init__(
        self,
        ann_path: Path,
        image_root: Path,
        transform: ImageTransform,
        max_words: int = 30,
    ):
        self.annotations = load_annotations(ann_path)
        self.image_root = Path(image_root)
        self.transform = transform
        self.image_paths: list[str] = []
        self.texts: list[str] = []
        self.img2txt: list[list[int]] = []
        self.txt2img: list[int] = []
        txt_id = 0
        for img_id, entry in enumerate(self.annotations):
            self.image_paths.append(entry["image"])
            self.img2txt.append([])
            for caption in entry["caption"]:
                self.texts.append(pre_caption(caption, max_words))
                self.img2txt[img_id].append(txt_id)
                self.txt2img.append(img_id)
                txt_id += 1

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.image_root / self.image_paths[i]), i
