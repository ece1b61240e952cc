"""Where a model's text->image errors go on the synthetic scenes: which confusers beat the truth.

``scenes.py`` builds confuser groups: images whose captions use the same words but differ either
in *binding* (colours or kinds swapped between the shapes) or only in *arrangement* (the same
objects, their relation reversed). Recall alone cannot say which of these a model fails on; this
tool reads the split's ``<split>_scenes.json`` sidecar and reports, for ITC and for the ITM
rerank of ITC's top-k:

* **top-1 outcomes**, as shares of all captions: correct, a relation mate (same objects, other
  arrangement), a binding mate (same words, other objects), or any other image;
* **pairwise accuracy inside the groups**: for every caption and every mate of its image, how
  often the caption's own image scores higher. Chance is 50%.

CLI::

    python confuser_analysis.py --checkpoint runs/small-finetune/checkpoint_best.pt \\
        --ann work/data/scenes/test.json --image-root work/data/scenes [--k 16] [--out analysis.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import torch

import data
from checkpoints import model_from_checkpoint, tokenizer_from_checkpoint
from evaluation import embed_eval_set, itm_match_scores

OUTCOMES = ("correct", "relation mate", "binding mate", "other")


def mate_kind(scene: dict, mate: dict) -> str:
    """"relation" when the two scenes hold the same objects (kind, colour, size) arranged
    differently; "binding" when the same words make different objects."""
    def objects(s):
        return sorted((shape["kind"], shape["colour"], shape["size"]) for shape in s["shapes"])
    return "relation" if objects(scene) == objects(mate) else "binding"


def confuser_groups(scenes: list[dict]) -> dict[int, list[int]]:
    """Image index -> the indices of its group (itself included); absent for ungrouped images."""
    members: dict[str, list[int]] = {}
    for index, scene in enumerate(scenes):
        if scene.get("group") is not None:
            members.setdefault(scene["group"], []).append(index)
    return {i: group for group in members.values() for i in group}


def top1_outcome(first: int, truth: int, groups: dict[int, list[int]], scenes: list[dict]) -> str:
    if first == truth:
        return "correct"
    if first in groups.get(truth, ()):
        return mate_kind(scenes[truth], scenes[first]) + " mate"
    return "other"


def summarise(itc: torch.Tensor, itm_top1: list[int], pair_itm: dict, txt2img: list[int], scenes: list[dict]) -> dict:
    """``itc`` [T, I] caption x image similarities; ``itm_top1`` each caption's image after the
    rerank; ``pair_itm[(t, i)]`` ITM scores of each caption against its group's images."""
    groups = confuser_groups(scenes)
    outcomes = {"ITC": Counter(), "ITM": Counter()}
    wins, pairs = Counter(), Counter()
    for t, truth in enumerate(txt2img):
        outcomes["ITC"][top1_outcome(int(itc[t].argmax()), truth, groups, scenes)] += 1
        outcomes["ITM"][top1_outcome(itm_top1[t], truth, groups, scenes)] += 1
        for mate in groups.get(truth, ()):
            if mate == truth:
                continue
            kind = mate_kind(scenes[truth], scenes[mate])
            pairs[kind] += 1
            wins[kind, "ITC"] += int(itc[t, truth] > itc[t, mate])
            wins[kind, "ITM"] += int(pair_itm[t, truth] > pair_itm[t, mate])
    n = len(txt2img)
    return {
        "captions": n,
        "top1": {name: {o: round(100 * c[o] / n, 2) for o in OUTCOMES} for name, c in outcomes.items()},
        "pairwise": {kind: {"pairs": pairs[kind], "ITC": round(100 * wins[kind, "ITC"] / pairs[kind], 1),
                            "ITM": round(100 * wins[kind, "ITM"] / pairs[kind], 1)} for kind in sorted(pairs)},
    }


@torch.no_grad()
def analyse(checkpoint: Path, ann: Path, image_root: Path, k: int = 16, scenes_path: Path | None = None) -> dict:
    scenes_path = scenes_path or ann.with_name(ann.stem + "_scenes.json")
    scenes = json.loads(scenes_path.read_text(encoding="utf-8"))
    model, ck = model_from_checkpoint(checkpoint)
    model.eval()
    tokenizer = tokenizer_from_checkpoint(ck, model.cfg.max_tokens)
    dataset = data.RetrievalEvalDataset(ann, image_root, data.ImageTransform(model.cfg.image_size))
    if len(scenes) != len(dataset):
        raise ValueError(f"{scenes_path} describes {len(scenes)} images but {ann} has {len(dataset)}")
    image_embed, image_feats, text_embed, text_feats, text_mask, _, txt2img = embed_eval_set(model, dataset, tokenizer, "cpu")
    itc = text_embed @ image_embed.T
    groups = confuser_groups(scenes)
    k = min(k, itc.shape[1])
    itm_top1, pair_itm = [], {}
    for t, truth in enumerate(txt2img):
        top = itc[t].topk(k).indices.tolist()
        mates = groups.get(truth, [])
        candidates = list(dict.fromkeys(top + mates))
        index = torch.tensor(candidates)
        logits = itm_match_scores(model, text_feats[t : t + 1], text_mask[t : t + 1], image_feats[index])
        score = dict(zip(candidates, logits.tolist()))
        itm_top1.append(max(top, key=score.__getitem__))
        pair_itm.update({(t, i): score[i] for i in mates})
    return {"checkpoint": str(checkpoint), "ann": str(ann), "k": k, **summarise(itc, itm_top1, pair_itm, txt2img, scenes)}


def format_report(report: dict) -> str:
    lines = [f"{report['captions']} captions, ITM reranks ITC's top {report['k']}", "",
             "| top-1 | " + " | ".join(OUTCOMES) + " |", "|---|" + "---|" * len(OUTCOMES)]
    for name, shares in report["top1"].items():
        lines.append(f"| {name} | " + " | ".join(f"{shares[o]:.2f}" for o in OUTCOMES) + " |")
    lines += ["", "| mate differs in | pairs | ITC wins % | ITM wins % |", "|---|---|---|---|"]
    for kind, row in report["pairwise"].items():
        lines.append(f"| {kind} | {row['pairs']} | {row['ITC']:.1f} | {row['ITM']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--ann", type=Path, required=True, help="a scenes split, e.g. work/data/scenes/test.json")
    p.add_argument("--image-root", type=Path, required=True)
    p.add_argument("--scenes", type=Path, help="the split's sidecar (default: <ann stem>_scenes.json beside it)")
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--threads", type=int)
    p.add_argument("--out", type=Path, help="also write the report as JSON")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = analyse(args.checkpoint, args.ann, args.image_root, args.k, args.scenes)
    print(format_report(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
