"""Import a published checkpoint directory into a fuserank model bundle (docs/model-import.md).

    python import_model.py SRC --out models/NAME [--name NAME] [--codec int8] [--threads N] [--int8]
        [--bert-config config_bert.json] [--tokenizer vocab.txt|tokenizer.json]

SRC is the checkpoint as a user has it on disk, and names its family:

* a directory with ``config.json``: a Hugging Face checkpoint (config.json, model.safetensors or
  pytorch_model.bin, tokenizer files, preprocessor_config.json), whose ``model_type`` names the
  importer: ``blip`` (``BlipForImageTextRetrieval``, ``importers/hf_blip.py``), ``bridgetower``
  (``BridgeTowerForImageAndTextRetrieval``, or ``BridgeTowerForContrastiveLearning`` weights that
  also hold the ITM head, ``importers/hf_bridgetower.py``) or ``vilt``
  (``ViltForImageAndTextRetrieval``, ``importers/hf_vilt.py``);
* a ``.pth`` file, or a directory holding one: ALBEF (``importers/albef.py``), read with the BERT
  config it was trained with (``--bert-config``, default ``config_bert.json`` beside the .pth)
  and ``bert-base-uncased``'s vocabulary (``--tokenizer``, default ``tokenizer.json`` or
  ``vocab.txt`` beside the .pth).

``--int8`` then adds int8 versions of the three graphs beside them (``quantize.py``, dynamic).

Prints the costs and the parity of the exported graphs with the source model (and of the int8
graphs with the fp32 ones) as JSON on stdout; a checkpoint that cannot be imported exits 2 with
the message.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import quantize
from bundle_io import file_entries, remove_int8_graphs
from feature_codec import CODECS
from importers import CheckpointError
from importers import albef, hf_blip, hf_bridgetower, hf_vilt
from importers.hf_checkpoint import config_json

# config.json's model_type -> the importer of that Hugging Face family.
HF_IMPORTERS = {"blip": hf_blip, "bridgetower": hf_bridgetower, "vilt": hf_vilt}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Import a published checkpoint directory into a fuserank bundle.")
    p.add_argument("source", type=Path, help="the checkpoint directory")
    p.add_argument("--out", type=Path, required=True, help="the bundle directory to write")
    p.add_argument("--name", help="the bundle's name (default: --out's directory name)")
    p.add_argument("--codec", default="int8", choices=CODECS, help="token-feature codec the index should use")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--bert-config", type=Path, help="ALBEF: the BERT config JSON it was trained with")
    p.add_argument("--tokenizer", type=Path, help="ALBEF: bert-base-uncased's vocab.txt or tokenizer.json")
    p.add_argument("--int8", action="store_true",
                   help="also write int8 versions of the three graphs (quantize.py, dynamic) and the manifest's precisions")
    args = p.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            p.error(f"--threads [{args.threads}] must be at least 1")
        torch.set_num_threads(args.threads)
    started = time.monotonic()
    try:
        if albef.checkpoint_file(args.source) is not None:
            manifest = albef.import_bundle(args.source, args.out, args.name, args.codec, args.bert_config, args.tokenizer)
        elif args.bert_config or args.tokenizer:
            raise CheckpointError(f"--bert-config and --tokenizer are for ALBEF .pth checkpoints; [{args.source}] "
                                  f"holds no .pth")
        else:
            manifest = hf_importer(args.source).import_bundle(args.source, args.out, args.name, args.codec)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    int8 = {}
    if args.int8:
        manifest = quantize.quantize_bundle(args.out)
        int8 = {"int8": quantize.summary(args.out, manifest)}
    elif remove_int8_graphs(args.out):  # an earlier import's, which the new manifest has no precisions for
        manifest["files"] = file_entries(args.out)
        (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    graphs = {spec["file"]: manifest["files"][spec["file"]]["bytes"] for spec in manifest["graphs"].values()}
    print(json.dumps({
        "bundle": str(args.out), "family": manifest["model"]["family"], "parameters": manifest["model"]["parameters"],
        "fusion_flops_per_pair": manifest["fusion_flops_per_pair"], "bytes_per_image": manifest["bytes_per_image"],
        "graph_bytes": graphs, "parity": manifest["export_check"]["max_abs_diff_vs_source"], **int8,
        "seconds": round(time.monotonic() - started, 1)}, indent=1))
    return 0


def hf_importer(source: Path):
    """The importer for a Hugging Face checkpoint directory, by its config.json's ``model_type``."""
    config_file, config = config_json(source)
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in HF_IMPORTERS:
        raise CheckpointError(f"[{config_file}] has model_type [{model_type}]; supported model types: "
                              f"{sorted(HF_IMPORTERS)}")
    return HF_IMPORTERS[model_type]


if __name__ == "__main__":
    sys.exit(main())
