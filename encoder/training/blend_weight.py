"""The ITC weight of the reranked score, chosen on a validation split and reported on test.

ALBEF ranks ITC's top-k by the ITM logit alone; BLIP adds the ITC cosine with weight 1
(``../shared/docs/retrieval-anchors.md``). The two scores see different things (ITC a bag of
attributes, the fusion encoder how they are bound), so the weight W in ``ITM logit + W x ITC
cosine`` decides how much of each survives the rerank. This tool computes every W of ``--weights``
on the validation split (ITM scores once per pair, reused), picks the W with the best IR R@1
(text -> image, the plugin's main use; ties go to the better mean recall, then the smaller W) for
each k, and evaluates the test split with ITM alone, BLIP's W = 1 and the chosen W. Test never
takes part in the choice.

The plugin serves the chosen W as ``"score_mode": "itm_plus_itc", "itc_weight": W``: its ITC part is
the dot product of the query embedding with the document's stored float vector, so it ranks
exactly as here, whatever quantization the kNN index uses.

    python blend_weight.py --checkpoint RUN/checkpoint_best.pt --val-ann DATA/val.json \\
        --test-ann DATA/test.json --image-root DATA [--k 16 32] [--out report.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

import data
import retrieval_eval
from checkpoints import model_from_checkpoint, tokenizer_from_checkpoint
from evaluation import blend_row, evaluate

# The ITC cosines of a trained model are close together (its temperature, ~0.01 on the scenes,
# spreads them by 1/temp for the ITC loss), so useful weights reach the hundreds.
DEFAULT_WEIGHTS = (0.0, 1.0, 4.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0)


def choose_weight(rows: dict[str, dict], k: int, weights) -> float:
    """The weight whose ``blend_row(k, W)`` has the best IR R@1, then mean recall, then is smallest."""
    return max(weights, key=lambda w: (rows[blend_row(k, w)]["img_r1"], rows[blend_row(k, w)]["r_mean"], -w))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--val-ann", type=Path, required=True)
    p.add_argument("--test-ann", type=Path, required=True)
    p.add_argument("--image-root", type=Path, required=True)
    p.add_argument("--k", type=int, nargs="+", default=[16, 32])
    p.add_argument("--weights", type=float, nargs="+", default=list(DEFAULT_WEIGHTS))
    p.add_argument("--val-max-images", type=int, help="the first N validation images only")
    p.add_argument("--threads", type=int)
    p.add_argument("--out", type=Path, help="also write the report as JSON")
    args = p.parse_args(argv)
    bad = [w for w in args.weights if w < 0]
    if bad:
        raise ValueError(f"--weights must be >= 0 (the plugin's itc_weight is), got {bad}")
    if args.threads:
        torch.set_num_threads(args.threads)
    model, checkpoint = model_from_checkpoint(args.checkpoint)
    tokenizer = tokenizer_from_checkpoint(checkpoint, model.cfg.max_tokens)
    transform = data.ImageTransform(model.cfg.image_size)

    def run(ann: Path, weights, max_images=None) -> dict:
        dataset = data.RetrievalEvalDataset(ann, args.image_root, transform)
        return evaluate(model, dataset, tokenizer, "cpu", args.k, max_images, itc_weights=weights)

    val = run(args.val_ann, args.weights, args.val_max_images)
    chosen = {k: choose_weight(val, k, args.weights) for k in args.k}
    test = run(args.test_ann, sorted({1.0, *chosen.values()}))
    keep = ["ITC"] + [row for k in args.k for row in (f"ITC+ITM k={k}", blend_row(k, 1.0), blend_row(k, chosen[k]))]
    test = {row: test[row] for row in dict.fromkeys(keep)}
    report = {
        "checkpoint": str(args.checkpoint),
        "val_ir_r1": {row: round(r["img_r1"], 2) for row, r in val.items()},
        "chosen_itc_weight": chosen,
        "plugin": {k: {"window_size": k, "score_mode": "itm_plus_itc", "itc_weight": w} for k, w in chosen.items()},
        "test": {row: {key: round(v, 2) for key, v in r.items()} for row, r in test.items()},
    }
    print(retrieval_eval.format_table(test), file=sys.stderr)
    print(json.dumps({"chosen_itc_weight": chosen, "plugin": report["plugin"]}))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
