"""The tiny ALBEF checkpoint of ``tests/fixtures/albef/`` laid out as a user has a released one
(the ``.pth``, ``config_bert.json``, a ``vocab.txt``), and its imported bundle: what
``tests/test_import_albef.py`` imports and what the Java tests load
(``encoder/src/test/resources/bundles/albef-tiny``).

    python -m tools.albef_tiny_bundle [--out ../src/test/resources/bundles/albef-tiny]   # from encoder/training

The checkpoint's ViT is tiny (patch 8, 2 blocks, 2 heads, 32 px: ``TINY_VISION``), not ALBEF's
fixed ViT-B/16, so it is imported through ``importers.albef.import_bundle(vision=TINY_VISION)``.
The vocabulary is the generated tiny WordPiece of ``tools/random_blip_checkpoint.py`` (82
tokens, within the fixture BERT's 100).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from importers import albef
from tools.random_blip_checkpoint import _vocabulary

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "albef"
TINY_VISION = {"patch_size": 8, "vision_layers": 2, "vision_heads": 2}
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "src" / "test" / "resources" / "bundles" / "albef-tiny"


def write_tiny_source(out: Path) -> Path:
    """``out`` holding ``albef_tiny.pth``, ``config_bert.json`` and ``vocab.txt``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("albef_tiny.pth", "config_bert.json"):
        shutil.copyfile(FIXTURE / name, out / name)
    (out / "vocab.txt").write_text("\n".join(_vocabulary(tiny=True)) + "\n", encoding="utf-8")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="Import the tiny ALBEF fixture checkpoint into a bundle.")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--source", type=Path, default=Path("/tmp/albef-tiny-source"),
                   help="where to lay out the checkpoint directory first")
    args = p.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    manifest = albef.import_bundle(write_tiny_source(args.source), args.out, "albef-tiny", vision=TINY_VISION)
    print(args.out, manifest["export_check"]["max_abs_diff_vs_source"])


if __name__ == "__main__":
    main()
