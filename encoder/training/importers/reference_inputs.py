"""Generated reference images every importer writes into its bundle's ``reference/`` with the
source model's outputs for them: the inputs the Python and Java parity tests replay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def reference_images(directory: Path, count: int = 4) -> list[Path]:
    """Generated images of several sizes and aspect ratios (smaller and larger than the model's
    input, so the resize both upsamples and downsamples), as PNG and one JPEG. The first four are
    every importer's; a fifth (``count`` 5, BridgeTower's) is 2:1, wider than BridgeTower's
    1333:800 bound, so its resize leaves the height below the crop and the crop zero-pads it."""
    rng = np.random.default_rng(20)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (h, w) in enumerate([(24, 40), (61, 47), (96, 160), (400, 300), (40, 80)][:count]):
        y, x = np.mgrid[0:h, 0:w]
        rgb = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 7) % 256], axis=-1)
        rgb = np.clip(rgb + rng.integers(-24, 25, rgb.shape), 0, 255).astype(np.uint8)
        path = directory / (f"{i:02d}.jpg" if i == 3 else f"{i:02d}.png")
        Image.fromarray(rgb, "RGB").save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))
        paths.append(path)
    return paths
