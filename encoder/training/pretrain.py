"""Pretraining and retrieval fine-tuning of the ALBEF-style model (model.py): the training loop.

One flat loop: ITC with momentum queues and distillation, ITM with in-batch hard negatives, and
(mode ``pretrain``) MLM; mode ``finetune`` trains ITC + ITM as ALBEF's retrieval fine-tuning
does; mode ``itm`` trains the fusion encoder and ITM head alone on a trained model's frozen
encoders (the reranker stage; see train). AdamW, linear warm-up then cosine decay, gradient
clipping, seeded; bf16 autocast and ``torchrun`` DDP on GPUs. Every epoch it evaluates on the
validation split with ALBEF's protocol (evaluation.py): ITC alone and ITC + ITM rerank at each
of ``eval_k``.

The hyper-parameters are TrainSettings (recipes.py): a recipe file, then ``--set KEY=VALUE``
overrides; the command line otherwise names only files and the run environment.

    python pretrain.py --recipe recipes/small-pretrain.json --train-ann D/train.json \\
        --val-ann D/val.json --image-root D --out runs/small --set epochs=10
    torchrun --nproc-per-node 8 pretrain.py --recipe recipes/base-gpu.json ...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.flop_counter import FlopCounterMode

import data
import retrieval_eval
from batches import OneCaptionPerImageSampler, collate, endless_batches, pairs_by_image
from checkpoints import load_checkpoint, save_checkpoint
from distributed import all_gather_no_grad, init_distributed
from evaluation import evaluate
from model import ALBEF, ModelConfig, StepOptions, preset
from negatives import CaptionSwapper
from optim import build_optimizer, learning_rate
from recipes import RunFiles, TrainSettings, describe
from tokenizer import TextTokenizer, train_wordpiece

# The step of --lesson-ann's batch: ITM alone, its swapped captions the only negatives.
LESSON_STEP = StepOptions(alpha=0.0, mlm=False, itc=False, in_batch_negatives=False)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="settings (--set KEY=VALUE, or a recipe's keys), with their defaults:\n" + describe())
    p.add_argument("--recipe", type=Path, help="a JSON recipe (recipes/*.json): the run's settings")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting (repeatable)")
    p.add_argument("--train-ann", type=Path, required=True, help="Karpathy-format annotation JSON")
    p.add_argument("--val-ann", type=Path, help="validation annotations, evaluated every epoch")
    p.add_argument("--test-ann", type=Path, help="test annotations, evaluated once at the end")
    p.add_argument("--image-root", type=Path, required=True, help="the annotations' image paths are relative to it")
    p.add_argument("--out", type=Path, required=True, help="run directory: checkpoints, log.jsonl, tokenizer")
    p.add_argument("--tokenizer", type=Path, help="an existing tokenizer.json (default: train one on the train captions)")
    p.add_argument("--swap-vocab", type=Path, help="scenes.py's swap_vocab.json: add word-swapped caption ITM negatives")
    p.add_argument("--lesson-ann", type=Path, help="itm mode: captions scored against their own images and swaps only, "
                                                   "lesson_batch_size of them added to every step")
    p.add_argument("--lesson-swap-vocab", type=Path, help="the lesson's swap vocabulary (default: --swap-vocab)")
    p.add_argument("--init", type=Path, help="start from this checkpoint's weights, config and tokenizer")
    p.add_argument("--resume", type=Path, help="continue this run's checkpoint (weights, optimizer, step)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--threads", type=int, help="torch intra-op threads on CPU")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    files = RunFiles(train_ann=args.train_ann, image_root=args.image_root, out=args.out, val_ann=args.val_ann,
                     test_ann=args.test_ann, tokenizer=args.tokenizer, swap_vocab=args.swap_vocab, lesson_ann=args.lesson_ann,
                     lesson_swap_vocab=args.lesson_swap_vocab, init=args.init, resume=args.resume)
    return train(TrainSettings.from_recipe(args.recipe, args.set), files, args.device, args.threads, args.workers)


def train(settings: TrainSettings, files: RunFiles, device: str = "auto", threads: int | None = None,
          workers: int = 0) -> dict:
    """Trains as ``settings`` say on ``files``; returns {"steps", "history" (validation metrics
    per epoch), "test" (with files.test_ann)}. Writes log.jsonl, tokenizer.json and
    checkpoint_last.pt / checkpoint_best.pt (best on validation) to files.out."""
    settings.validate(files)
    world, rank, local_rank = init_distributed()
    is_main = rank == 0
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(f"cuda:{local_rank}" if device == "cuda" else device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
    if threads:
        torch.set_num_threads(threads)
    use_bf16 = device.type == "cuda" if settings.bf16 is None else settings.bf16
    torch.manual_seed(settings.seed + rank)
    random.seed(settings.seed + rank)
    np.random.seed(settings.seed + rank)
    files.out.mkdir(parents=True, exist_ok=True)
    log_file = (files.out / "log.jsonl").open("a", encoding="utf-8") if is_main else None

    started = time.perf_counter()

    def log(record: dict):
        record = {**record, "elapsed_s": round(time.perf_counter() - started, 1)}
        if is_main:
            print(json.dumps(record), flush=True)
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()

    train_annotations = data.load_annotations(files.train_ann)
    checkpoint = load_checkpoint(files.resume) if files.resume else None
    # --init (e.g. pretrain -> finetune) takes the weights, their config and their tokenizer.
    init = load_checkpoint(files.init) if files.init and checkpoint is None else None
    source = checkpoint or init
    tokenizer_path = files.out / "tokenizer.json"
    if source is not None:
        tokenizer_path.write_text(source["tokenizer_json"], encoding="utf-8")
    elif files.tokenizer:
        tokenizer_path.write_text(files.tokenizer.read_text(encoding="utf-8"), encoding="utf-8")
    elif is_main:
        captions = [data.pre_caption(c) for entry in train_annotations for c in entry["caption"]]
        train_wordpiece(captions, tokenizer_path, vocab_size=settings.vocab_size)
    if world > 1:
        dist.barrier()

    if source is not None:
        cfg = ModelConfig.from_dict(source["config"])
        if init is not None and settings.fusion_image_positions is not None:
            cfg = replace(cfg, fusion_image_positions=settings.fusion_image_positions)
    else:
        # Settings left null keep the preset's value.
        optional = {key: getattr(settings, key) for key in ("alpha", "fusion_image_positions")}
        cfg = preset(settings.preset, bridge=settings.bridge, **{k: v for k, v in optional.items() if v is not None})
    tokenizer = TextTokenizer(tokenizer_path, cfg.max_tokens)
    cfg = ModelConfig(**{**cfg.to_dict(), "vocab_size": tokenizer.vocab_size, "pad_id": tokenizer.pad_id,
                         "cls_id": tokenizer.cls_id, "sep_id": tokenizer.sep_id, "mask_id": tokenizer.mask_id})
    model = ALBEF(cfg).to(device)
    if init is not None:
        model.load_state_dict(init["model"])
        if settings.reset_fusion:
            model.reset_fusion()
        model.copy_to_momentum()
    if settings.mode == "itm":
        # Departure from ALBEF, which trains ITM jointly with ITC: here the dual encoders (and so
        # ITC retrieval and every stored vector) stay exactly as they are, and only the reranker
        # learns. On two CPU cores a step is also about 2.5 times faster than a joint one, which
        # makes the thousands of steps relations need affordable (docs/training.md: the ITM stage).
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.startswith(("fusion.", "itm_head."))
    optimizer = build_optimizer(model, settings)
    step, start_epoch = 0, 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        step, start_epoch = checkpoint["step"], checkpoint["epoch"] + 1
    train_module = model
    if world > 1:
        train_module = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None,
            find_unused_parameters=settings.mode != "pretrain",
        )

    swapper = CaptionSwapper.load(files.swap_vocab) if files.swap_vocab else None
    transform = data.ImageTransform(cfg.image_size)
    train_set = data.RetrievalTrainDataset(files.train_ann, files.image_root, transform)
    sampler = OneCaptionPerImageSampler(pairs_by_image(train_set.pairs), settings.seed, world, rank, settings.batch_size)
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=settings.batch_size, sampler=sampler,
        collate_fn=collate(tokenizer, swapper, settings.seed + rank), num_workers=workers, drop_last=True,
        persistent_workers=workers > 0,
    )
    lessons = None
    if files.lesson_ann:
        if world > 1:
            raise ValueError("--lesson-ann runs a second forward pass per step, which DistributedDataParallel does not "
                             "support: run the ITM stage as one process")
        lesson_set = data.RetrievalTrainDataset(files.lesson_ann, files.image_root, transform)
        lesson_sampler = OneCaptionPerImageSampler(pairs_by_image(lesson_set.pairs), settings.seed + 1)
        lesson_swapper = CaptionSwapper.load(files.lesson_swap_vocab) if files.lesson_swap_vocab else swapper
        lesson_loader = torch.utils.data.DataLoader(
            lesson_set, batch_size=settings.lesson_batch_size, sampler=lesson_sampler, drop_last=True,
            collate_fn=collate(tokenizer, lesson_swapper, settings.seed + 1),
        )
        if len(lesson_loader) == 0:
            raise ValueError(f"lesson_batch_size [{settings.lesson_batch_size}] exceeds the "
                             f"[{len(lesson_set.annotations)}] images of {files.lesson_ann}")
        lessons = endless_batches(lesson_loader, lesson_sampler)
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ValueError(f"batch_size [{settings.batch_size}] x world [{world}] exceeds the "
                         f"[{len(train_annotations)}] training images")
    total_steps = settings.max_steps or steps_per_epoch * settings.epochs
    queue_warmup = steps_per_epoch if settings.queue_warmup_steps is None else settings.queue_warmup_steps
    val_set = data.RetrievalEvalDataset(files.val_ann, files.image_root, transform) if files.val_ann else None
    log({"event": "start", "config": cfg.to_dict(), "mode": settings.mode, "world": world, "device": str(device),
         "bf16": use_bf16, "train_images": len(sampler) * world, "steps_per_epoch": steps_per_epoch,
         "total_steps": total_steps, "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)})

    flops_per_step = None
    best = -1.0
    history = []
    for epoch in range(start_epoch, settings.epochs):
        sampler.set_epoch(epoch)
        seen, tick = 0, time.perf_counter()
        for batch in loader:
            if step >= total_steps:
                break
            batch = batch.to(device)
            lr = learning_rate(step, total_steps, settings)
            for group in optimizer.param_groups:
                group["lr"] = lr
            # ALBEF ramps the distillation weight from 0 over the first epoch.
            alpha = cfg.alpha * min(1.0, step / steps_per_epoch) if epoch == 0 else cfg.alpha
            ramp = settings.hard_negative_ramp_epochs * steps_per_epoch
            options = StepOptions(alpha=alpha, mlm=settings.mode == "pretrain", itc=settings.mode != "itm",
                                  use_queue=step >= queue_warmup, hard_ratio=min(1.0, step / ramp) if ramp > 0 else 1.0,
                                  in_batch_negatives=settings.in_batch_negatives)
            # Count the model FLOPs of this process's first step once, for the utilisation figure.
            counter = FlopCounterMode(display=False) if flops_per_step is None else None
            with counter or contextlib.nullcontext(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                losses = train_module(batch, options, gather=all_gather_no_grad)
                if lessons is not None:
                    losses["itm_lesson"] = train_module(next(lessons).to(device), LESSON_STEP)["itm"]
                loss = sum(losses.values())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            if counter:
                flops_per_step = counter.get_total_flops() * world
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            step += 1
            seen += batch.pixels.shape[0] * world
            if step % settings.log_every == 0 or step == total_steps:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                elapsed = time.perf_counter() - tick
                record = {"event": "train", "epoch": epoch, "step": step, "lr": round(lr, 7), "alpha": round(alpha, 3),
                          "hard_ratio": round(options.hard_ratio, 3),
                          **{f"loss_{k}": round(v.item(), 4) for k, v in losses.items()},
                          "grad_norm": round(float(grad_norm), 3), "temp": round(model.temp.item(), 4),
                          "images_per_s": round(seen / elapsed, 1)}
                if flops_per_step and settings.peak_tflops:
                    achieved = flops_per_step * (seen / (settings.batch_size * world)) / elapsed
                    record["mfu"] = round(achieved / (settings.peak_tflops * 1e12), 4)
                log(record)
                seen, tick = 0, time.perf_counter()
        if is_main:
            metrics = None
            if val_set is not None:
                results = evaluate(model, val_set, tokenizer, device, settings.eval_k, settings.eval_max_images)
                metrics = {name: {k: round(v, 2) for k, v in r.items()} for name, r in results.items()}
                log({"event": "eval", "epoch": epoch, "split": "val", "results": metrics})
                print(retrieval_eval.format_table(results), file=sys.stderr, flush=True)
                history.append(metrics)
            save_checkpoint(files.out / "checkpoint_last.pt", model, optimizer, step, epoch, settings, tokenizer_path, metrics)
            # The ITM stage leaves ITC as it is, so only the rerank rows can tell its epochs apart.
            ranked = {name: r for name, r in (metrics or {}).items() if settings.mode != "itm" or name != "ITC"}
            score = max(r["r_mean"] for r in ranked.values()) if ranked else epoch
            if score > best:
                best = score
                save_checkpoint(files.out / "checkpoint_best.pt", model, optimizer, step, epoch, settings, tokenizer_path,
                                metrics)
        if world > 1:
            dist.barrier()
        if step >= total_steps:
            break

    summary = {"steps": step, "history": history}
    if is_main and files.test_ann:
        test_set = data.RetrievalEvalDataset(files.test_ann, files.image_root, transform)
        results = evaluate(model, test_set, tokenizer, device, settings.eval_k)
        summary["test"] = {name: {k: round(v, 2) for k, v in r.items()} for name, r in results.items()}
        log({"event": "eval", "split": "test", "results": summary["test"]})
        print(retrieval_eval.format_table(results), file=sys.stderr, flush=True)
    if is_main:
        log_file.close()
    if world > 1:
        dist.destroy_process_group()
    return summary


if __name__ == "__main__":
    main()
