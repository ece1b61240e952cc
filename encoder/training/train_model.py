"""Train a model bundle on your own images and captions: a Karpathy file in, a bundle and its
test-split recall table out, with no manual step between.

Each step calls the module that owns it:

1. read the annotation files (``data.load_annotations``: an error names the offending entry) and
   merge the entries of one image (COCO's Karpathy train file has one entry per caption);
2. check every image as the indexer would (``data.check_image``: the Java side's limits, formats
   and decoding); an image it would refuse is skipped with its reason in ``skipped-images.tsv``,
   so a collection that trains also indexes, and one bad file never stops a run;
3. carve the test and validation splits out of the training images where none is given: seeded,
   by whole images, so one image's captions never land in two splits;
4. ``pretrain.train``: from scratch (mode ``pretrain``: a WordPiece tokenizer trained on the
   training captions, ITC + ITM + MLM) or from ``--init`` (mode ``finetune``, ALBEF's retrieval
   fine-tuning: the checkpoint's weights, config and tokenizer, ITC + ITM);
5. ``blend_weight.py``: the ITC weight of the reranked score, chosen on validation, reported on test;
6. ``export.py``: the bundle, whose manifest recommends that weight.

Everything but the bundle goes to ``OUT.train/``: the splits as trained on (train/val/test.json,
their counts in splits.json), skipped-images.tsv, the run (run/, its log.jsonl), blend.json, the
test table, and ``checkpoint.pt`` (the best checkpoint on validation, what ``--init`` takes).

    python train_model.py --ann DATA/train.json --image-root DATA --out ../../models/mine [--init CKPT]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import blend_weight
import data
import export
import pretrain
import retrieval_eval
from checkpoints import load_checkpoint
from model import preset
from recipes import RunFiles, TrainSettings

# Held-out splits carved from the training file: this share of its images each, at least one and
# at most HOLDOUT_CAP (evaluation scores every caption against every image).
HOLDOUT_FRACTION = 0.1
HOLDOUT_CAP = 1000
# Learning rates and warm-ups of scripts/build-model's pretraining and fine-tuning stages.
LEARNING_RATE = {"pretrain": 5e-4, "finetune": 1e-4}
WARMUP_STEPS = {"pretrain": 100, "finetune": 50}
# The rerank window whose chosen ITC weight the bundle recommends (the plugin's default window).
BLEND_WINDOW = 16


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ann", type=Path, required=True, help="Karpathy-format training annotations")
    p.add_argument("--image-root", type=Path, required=True, help="the annotations' image paths are relative to it")
    p.add_argument("--out", type=Path, required=True, help="the bundle directory; the rest goes to OUT.train/")
    p.add_argument("--val-ann", type=Path, help=f"validation annotations (default: {HOLDOUT_FRACTION:.0%} of --ann's images)")
    p.add_argument("--test-ann", type=Path, help=f"test annotations (default: {HOLDOUT_FRACTION:.0%} of --ann's images)")
    p.add_argument("--init", type=Path, help="fine-tune this checkpoint (its config and tokenizer) instead of pretraining")
    p.add_argument("--preset", default="small", choices=["tiny", "small"], help="model size when pretraining")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (smoke runs)")
    p.add_argument("--batch-size", type=int, default=64, help="lowered to the number of training images if above it")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default {LEARNING_RATE})")
    p.add_argument("--warmup-steps", type=int, help=f"linear warm-up steps (default {WARMUP_STEPS})")
    p.add_argument("--vocab-size", type=int, default=8000, help="WordPiece vocabulary when pretraining")
    p.add_argument("--eval-k", type=int, nargs="+", default=[BLEND_WINDOW, 32], help="rerank windows evaluated")
    p.add_argument("--seed", type=int, default=0, help="splits, initialisation and batch order")
    p.add_argument("--threads", type=int, help="torch threads and image-check workers (default: all cores)")
    p.add_argument("--name", help="the bundle's name (default: the --out directory's)")
    args = p.parse_args(argv)
    for flag in ("epochs", "batch_size", "vocab_size", "max_steps", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            p.error(f"--{flag.replace('_', '-')} must be at least 1, got [{value}]")
    if BLEND_WINDOW not in args.eval_k:
        p.error(f"--eval-k {args.eval_k} must include [{BLEND_WINDOW}], the window whose weight the bundle recommends")
    return args


def note(message: str) -> None:
    print(f"[train-model] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def stdout_to_stderr():
    """Sends everything written to stdout, by Python or by native code (the tokenizers library's
    progress), to stderr while the steps run: this command's stdout is its report alone."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


# ---- annotations, images, splits ------------------------------------------------------------

def merge_by_image(entries: list[dict]) -> list[dict]:
    """One entry per image, in order of first appearance, holding all its captions: an image is
    the unit the splits, the sampler and the evaluation count."""
    merged: dict[str, dict] = {}
    for entry in entries:
        if entry["image"] in merged:
            merged[entry["image"]]["caption"].extend(entry["caption"])
        else:
            merged[entry["image"]] = {**entry, "caption": list(entry["caption"])}
    return list(merged.values())


def check_images(entries: list[dict], image_root: Path, size: int, workers: int) -> dict[str, str]:
    """``{image: reason}`` for every image the indexer would refuse (``data.ImageRejected``'s
    reason and message) or that does not exist (MISSING)."""

    def problem(image: str) -> str | None:
        try:
            data.check_image(image_root / image, size)
        except FileNotFoundError:
            return f"MISSING: no file [{image_root / image}]"
        except data.ImageRejected as e:
            return str(e)
        return None

    images = [entry["image"] for entry in entries]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return {image: reason for image, reason in zip(images, pool.map(problem, images)) if reason is not None}


def holdout_size(n_images: int) -> int:
    return max(1, min(HOLDOUT_CAP, round(HOLDOUT_FRACTION * n_images)))


def split_by_image(entries: list[dict], names: list[str], seed: int) -> dict[str, list[dict]]:
    """``names`` (e.g. ["test", "val"]) carved out of ``entries`` one after another, each of
    ``holdout_size`` whole images drawn with ``seed``; the rest is "train". Every split keeps the
    file order."""
    order = list(range(len(entries)))
    random.Random(seed).shuffle(order)
    chosen: dict[str, list[int]] = {}
    start = 0
    for name in names:
        count = holdout_size(len(entries))
        chosen[name] = sorted(order[start : start + count])
        start += count
    chosen["train"] = sorted(order[start:])
    return {name: [entries[i] for i in indices] for name, indices in chosen.items()}


def prepare_splits(args, size: int, work: Path) -> dict[str, Path]:
    """The train/val/test files as trained on, in ``work``: merged by image, refused images
    dropped (and listed in skipped-images.tsv), missing held-out splits carved from --ann."""
    given = {"train": args.ann, "val": args.val_ann, "test": args.test_ann}
    splits = {name: merge_by_image(data.load_annotations(path)) for name, path in given.items() if path}
    seen: dict[str, str] = {}
    for name, entries in splits.items():
        for entry in entries:
            if entry["image"] in seen:
                raise ValueError(f"image [{entry['image']}] is in both the {seen[entry['image']]} and the {name} "
                                 "annotations: a held-out split must not share images with another")
            seen[entry["image"]] = name

    note(f"checking {len(seen)} images as the indexer would (limits: {data.MAX_ENCODED_BYTES} encoded bytes, "
         f"{data.MAX_PIXELS} pixels)")
    skipped: list[tuple[str, str, str]] = []
    for name, entries in splits.items():
        refused = check_images(entries, args.image_root, size, args.threads or 2)
        skipped += [(name, entry["image"], refused[entry["image"]]) for entry in entries if entry["image"] in refused]
        splits[name] = [entry for entry in entries if entry["image"] not in refused]
    with (work / "skipped-images.tsv").open("w", encoding="utf-8") as f:
        f.write("split\timage\treason\n")
        f.writelines(f"{name}\t{image}\t{reason}\n" for name, image, reason in skipped)

    carved = [name for name in ("test", "val") if name not in splits]
    if carved:
        splits.update(split_by_image(splits.pop("train"), carved, args.seed))
    if len(splits["train"]) < 2 or not splits["val"] or not splits["test"]:
        first = "; ".join(f"{image}: {reason}" for _, image, reason in skipped[:3])
        raise ValueError(f"too few usable images: train [{len(splits['train'])}], val [{len(splits['val'])}], "
                         f"test [{len(splits['test'])}] after skipping [{len(skipped)}] ({first or 'none'}); "
                         f"is --image-root [{args.image_root}] right?")
    paths = {}
    for name in ("train", "val", "test"):
        paths[name] = work / f"{name}.json"
        paths[name].write_text(json.dumps(splits[name], indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = {
        "seed": args.seed,
        "carved_from_ann": carved,
        "images": {name: len(entries) for name, entries in splits.items()},
        "captions": {name: sum(len(e["caption"]) for e in entries) for name, entries in splits.items()},
        "skipped_images": len(skipped),
    }
    (work / "splits.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    note(f"splits: {summary['images']} images ({', '.join(carved) or 'none'} carved from --ann, seed {args.seed}); "
         f"{len(skipped)} skipped, listed in {work / 'skipped-images.tsv'}")
    return paths


# ---- the run --------------------------------------------------------------------------------

def image_size(args) -> int:
    """The model's input size: the --init checkpoint's, else the preset's."""
    if args.init:
        return load_checkpoint(args.init)["config"]["image_size"]
    return preset(args.preset).image_size


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    out = args.out.resolve()
    work = out.with_name(out.name + ".train")
    work.mkdir(parents=True, exist_ok=True)
    paths = prepare_splits(args, image_size(args), work)
    n_train = json.loads((work / "splits.json").read_text(encoding="utf-8"))["images"]["train"]
    batch_size = min(args.batch_size, n_train)
    if batch_size < args.batch_size:
        note(f"--batch-size [{args.batch_size}] is more than the [{n_train}] training images: using [{batch_size}]")

    mode = "finetune" if args.init else "pretrain"
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    threads = ["--threads", str(args.threads)] if args.threads else []
    settings = TrainSettings.from_dict({
        "mode": mode, "epochs": args.epochs, "max_steps": args.max_steps, "batch_size": batch_size,
        "lr": args.lr or LEARNING_RATE[mode],
        "warmup_steps": args.warmup_steps if args.warmup_steps is not None else WARMUP_STEPS[mode],
        "eval_k": args.eval_k, "seed": args.seed,
        **({} if args.init else {"preset": args.preset, "vocab_size": args.vocab_size}),
    }, "train_model.py")
    files = RunFiles(train_ann=paths["train"], val_ann=paths["val"], image_root=args.image_root, out=run, init=args.init)
    note(f"{'fine-tuning ' + str(args.init) if args.init else 'pretraining the ' + args.preset + ' preset'} "
         f"for {args.epochs} epochs (log: {run / 'log.jsonl'})")
    with stdout_to_stderr():
        pretrain.train(settings, files, threads=args.threads)
        shutil.copyfile(run / "checkpoint_best.pt", work / "checkpoint.pt")
        note("choosing the ITC weight on validation, reporting test")
        report = blend_weight.main([
            "--checkpoint", str(work / "checkpoint.pt"), "--val-ann", str(paths["val"]), "--test-ann", str(paths["test"]),
            "--image-root", str(args.image_root), "--k", *map(str, args.eval_k), "--out", str(work / "blend.json"), *threads,
        ])
        note(f"exporting the bundle to {out}")
        shutil.rmtree(out, ignore_errors=True)
        export.main([
            "--checkpoint", str(work / "checkpoint.pt"), "--out", str(out), "--name", args.name or out.name,
            "--reference-ann", str(paths["test"]), "--image-root", str(args.image_root),
            "--blend-report", str(work / "blend.json"), "--blend-window", str(BLEND_WINDOW),
        ])
    table = retrieval_eval.format_table(report["test"])
    (work / "test-table.txt").write_text(table + "\n", encoding="utf-8")
    splits = json.loads((work / "splits.json").read_text(encoding="utf-8"))
    print(f"bundle: {out}")
    print(f"checkpoint (for --init): {work / 'checkpoint.pt'}")
    print(f"images: train {splits['images']['train']}, val {splits['images']['val']}, test {splits['images']['test']}; "
          f"skipped {splits['skipped_images']} (listed in {work / 'skipped-images.tsv'})")
    print(f"ITC weight chosen on val for window {BLEND_WINDOW}: {report['chosen_itc_weight'][BLEND_WINDOW]:g}")
    print(f"test split, recall in % (TR: image -> text, IR: text -> image), {time.perf_counter() - started:.0f} s from the image check to here:")
    print(table, flush=True)
    return {"bundle": out, "work": work, "report": report, "splits": splits}


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
