"""Write a random-weight ALBEF-base retrieval checkpoint as ALBEF's ``Retrieval.py`` saves one
(``{"model": state_dict, "config": run config, "epoch": 0}``, ALBEF's key names), beside ALBEF's
own ``config_bert.json`` and a generated 30522-token vocabulary: what the full-size import's cost
measurement reads, since no checkpoint can be downloaded here.

    python -m tools.random_albef_checkpoint --out /tmp/albef-base     # from encoder/training

The keys and shapes are exactly ALBEF's (``tests/test_albef.py`` checks the mapping against the
ones ALBEF's code builds); the vocabulary's ids mean nothing.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from families.albef import AlbefConfig, AlbefRetrieval
from families.albef_checkpoint import albef_key
from tools.random_blip_checkpoint import _vocabulary

BERT_BASE_CONFIG = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "albef" / "config_bert_base.json"


def write_checkpoint(out: Path, seed: int = 0) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = AlbefConfig()
    model = AlbefRetrieval(cfg)
    state = {albef_key(name, cfg.fusion_layer): value for name, value in model.state_dict().items()}
    run = {"image_res": cfg.image_size, "embed_dim": cfg.embed_dim, "vision_width": cfg.vision_width,
           "bert_config": "configs/config_bert.json"}
    torch.save({"model": state, "config": run, "epoch": 0}, out / "albef_base_random.pth")
    shutil.copyfile(BERT_BASE_CONFIG, out / "config_bert.json")
    (out / "vocab.txt").write_text("\n".join(_vocabulary(tiny=False)) + "\n", encoding="utf-8")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="Write a random-weight ALBEF-base retrieval checkpoint.")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(write_checkpoint(args.out, args.seed))


if __name__ == "__main__":
    main()
