"""Pretraining and retrieval fine-tuning of the ALBEF-style model (model.py).

One flat loop: ITC with momentum queues and distillation, ITM with in-batch hard negatives, and
(in ``--mode pretrain``) MLM; ``--mode finetune`` trains ITC + ITM as ALBEF's retrieval
fine-tuning does; ``--mode itm`` trains the fusion encoder and ITM head alone on a trained
model's frozen encoders (the reranker stage; see main). AdamW, linear warm-up then cosine
decay, gradient clipping, seeded; bf16 autocast and ``torchrun`` DDP on GPUs. Every epoch it evaluates on the validation split with
ALBEF's protocol (retrieval_eval.py): ITC alone and ITC + ITM rerank at each ``--eval-k``.

    python pretrain.py --train-ann D/train.json --val-ann D/val.json --image-root D \\
        --preset small --epochs 10 --out runs/small
    torchrun --nproc-per-node 8 pretrain.py ... --preset base --bf16

A recipe (``--recipe recipes/NAME.json``, one per shipped model stage) holds a stage's settings
as data: a JSON object of this script's long options without the dashes; options given on the
command line override it. Data paths stay on the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.flop_counter import FlopCounterMode

import data
import retrieval_eval
from model import ALBEF, ModelConfig, preset
from negatives import CaptionSwapper
from tokenizer import TextTokenizer, train_wordpiece


# pretrain: ITC + ITM + MLM. finetune: ITC + ITM (ALBEF's retrieval fine-tuning). itm: the fusion
# encoder and ITM head alone on frozen encoders (a departure, see main).
MODES = ("pretrain", "finetune", "itm")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", type=Path, help="a JSON recipe (recipes/*.json) whose options become the defaults")
    p.add_argument("--train-ann", type=Path, required=True, help="Karpathy-format annotation JSON")
    p.add_argument("--val-ann", type=Path, help="validation annotations, evaluated every epoch")
    p.add_argument("--test-ann", type=Path, help="test annotations, evaluated once at the end")
    p.add_argument("--image-root", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="run directory: checkpoints, logs, tokenizer")
    p.add_argument("--tokenizer", type=Path, help="an existing tokenizer.json; default: train one on the train captions")
    p.add_argument("--vocab-size", type=int, default=2000, help="when training the tokenizer")
    p.add_argument("--preset", default="small", choices=["tiny", "small", "base"])
    p.add_argument("--bridge", action=argparse.BooleanOptionalAction, default=False, help="BridgeTower bridge layers")
    p.add_argument("--fusion-image-positions", action=argparse.BooleanOptionalAction, default=None,
                   help="add fixed 2D sincos codes to the image tokens inside the fusion encoder (default: the preset's, "
                        "or with --init the checkpoint's)")
    p.add_argument("--mode", default="pretrain", choices=MODES,
                   help="finetune: ITC + ITM only; itm: ITM alone, encoders frozen (needs --init)")
    p.add_argument("--reset-fusion", action="store_true",
                   help="with --init: start the fusion encoder and ITM head afresh (the ITM stage's recipe)")
    p.add_argument("--init", type=Path, help="start from this checkpoint's weights (e.g. pretrain -> finetune)")
    p.add_argument("--resume", type=Path, help="continue this run's checkpoint (weights, optimizer, step)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (smoke runs)")
    p.add_argument("--batch-size", type=int, default=64, help="per process")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--min-lr", type=float, default=1e-5)
    p.add_argument("--warmup-steps", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.02)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--alpha", type=float, help="distillation weight (default: the preset's); ramped from 0 over epoch 1")
    p.add_argument("--queue-warmup-steps", type=int, help="contrast in-batch only for this many steps (default: one epoch)")
    p.add_argument("--hard-negative-ramp-epochs", type=float, default=0.0,
                   help="ramp the share of ITC-sampled ITM negatives from 0 to 1 over this many epochs (0: ALBEF, all hard)")
    p.add_argument("--swap-vocab", type=Path,
                   help="swap vocabulary JSON (scenes.py writes swap_vocab.json): add word-swapped caption ITM negatives")
    p.add_argument("--in-batch-negatives", action=argparse.BooleanOptionalAction, default=True,
                   help="ITM negatives drawn from the batch by ITC similarity; --no-in-batch-negatives (with --mode itm "
                        "and --swap-vocab) leaves only the swapped captions, one lesson at a time")
    p.add_argument("--lesson-ann", type=Path,
                   help="with --mode itm and --swap-vocab: a second annotation JSON (scenes.py's train_regions.json) "
                        "whose captions are scored against their own images and their swapped captions only, "
                        "in a batch of --lesson-batch-size added to every step")
    p.add_argument("--lesson-batch-size", type=int, default=32, help="captions of --lesson-ann per step")
    p.add_argument("--lesson-swap-vocab", type=Path,
                   help="the lesson's own swap vocabulary (default: --swap-vocab), e.g. scenes.py's relation_swap_vocab.json "
                        "with train_relations.json: only relation words invert")
    p.add_argument("--eval-k", type=int, nargs="+", default=[16, 32])
    p.add_argument("--eval-max-images", type=int, help="evaluate on the first N validation images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: on for CUDA)")
    p.add_argument("--threads", type=int, help="torch intra-op threads on CPU")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--peak-tflops", type=float, help="accelerator peak for model-FLOPs utilisation (H200 bf16: 989)")
    recipe = p.parse_known_args(argv)[0].recipe
    if recipe is not None:
        p.set_defaults(**recipe_defaults(p, recipe))
    return p.parse_args(argv)


def recipe_defaults(parser: argparse.ArgumentParser, recipe: Path) -> dict:
    """The recipe's options as parser defaults, so that options on the command line win. Keys
    are long options without the dashes ("warmup-steps"); a key the parser does not know, or a
    value of the wrong kind, is refused naming the key."""
    if not recipe.is_file():
        raise FileNotFoundError(f"--recipe [{recipe}] does not exist")
    options = json.loads(recipe.read_text(encoding="utf-8"))
    actions = {a.option_strings[0][2:]: a for a in parser._actions if a.option_strings and a.option_strings[0].startswith("--")}
    defaults = {}
    for key, value in options.items():
        action = actions.get(key)
        if action is None or key in ("recipe", "help"):
            raise ValueError(f"recipe [{recipe}] sets unknown option [{key}]; valid: {sorted(set(actions) - {'recipe', 'help'})}")
        if action.choices is not None and value not in action.choices:
            raise ValueError(f"recipe [{recipe}] sets [{key}] to [{value}]; valid: {list(action.choices)}")
        flag = action.const is not None or isinstance(action, argparse.BooleanOptionalAction)
        if flag and not isinstance(value, bool):
            raise ValueError(f"recipe [{recipe}] sets the switch [{key}] to [{value}], not true or false")
        converted = value
        if action.type is not None and not flag:
            converted = [action.type(v) for v in value] if isinstance(value, list) else action.type(value)
        defaults[action.dest] = converted
    return defaults


# ---- distributed helpers -------------------------------------------------------------------

def init_distributed():
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; a plain run is a world of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    return world, rank, int(os.environ.get("LOCAL_RANK", "0"))


def all_gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """ALBEF's concat_all_gather: the queue receives every rank's momentum features."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


# ---- data ----------------------------------------------------------------------------------

class OneCaptionPerImageSampler(torch.utils.data.Sampler):
    """An epoch visits every image once with one of its captions drawn at random, so a batch
    holds distinct images (ITM hard negatives need other images) and all captions get seen over
    the epochs. Seeded by (seed, epoch); sharded for DDP in whole batches.
    """

    def __init__(self, pairs_by_image: list[list[int]], seed: int, world: int = 1, rank: int = 0, batch_size: int = 1):
        self.pairs_by_image = pairs_by_image
        self.seed, self.world, self.rank, self.batch_size = seed, world, rank, batch_size
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __iter__(self):
        rng = random.Random(self.seed * 100_003 + self.epoch)
        order = list(range(len(self.pairs_by_image)))
        rng.shuffle(order)
        if self.world > 1:
            # Whole batches, the same number on every rank (collectives need equal step counts).
            batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
            order = [i for batch in batches[: self._batches_per_rank() * self.world][self.rank :: self.world] for i in batch]
        return iter([rng.choice(self.pairs_by_image[i]) for i in order])

    def _batches_per_rank(self) -> int:
        return len(self.pairs_by_image) // self.batch_size // self.world

    def __len__(self):
        if self.world == 1:
            return len(self.pairs_by_image)
        return self._batches_per_rank() * self.batch_size


def pairs_by_image(pairs: list[tuple[int, str]]) -> list[list[int]]:
    """Indices of RetrievalTrainDataset's (image_index, caption) pairs grouped by image, taken
    from the dataset itself so the sampler and the dataset can never number pairs differently."""
    groups: list[list[int]] = []
    for pair_index, (image_index, _) in enumerate(pairs):
        while len(groups) <= image_index:
            groups.append([])
        groups[image_index].append(pair_index)
    return groups


def collate(tokenizer: TextTokenizer, swapper: CaptionSwapper | None = None, seed: int = 0):
    """Batch of (pixels, ids, mask, image_idx, swap); ``swap`` is None without a swapper, else
    (swap_ids, swap_mask, swap_valid): one word-swapped caption per row for ITM (negatives.py),
    the row's own caption where no swap exists (masked out by swap_valid)."""
    rng = random.Random(seed)

    def fn(batch):
        images, captions, image_idx = zip(*batch)
        swap = None
        if swapper is None:
            ids, mask = tokenizer.encode_batch(list(captions))
        else:
            swapped = [swapper.swap(c, rng) for c in captions]
            # One call pads captions and swaps to one length: ITM concatenates their token features,
            # and a swap can change the number of word pieces ("red" -> "yellow").
            all_ids, all_mask = tokenizer.encode_batch(list(captions) + [s or c for s, c in zip(swapped, captions)])
            n = len(captions)
            ids, mask = all_ids[:n], all_mask[:n]
            swap = (all_ids[n:], all_mask[n:], torch.tensor([s is not None for s in swapped]))
        return torch.stack(images), ids, mask, torch.tensor(image_idx, dtype=torch.long), swap

    return fn


def batch_to(batch, device) -> tuple:
    """A collate batch on ``device``, flat: (pixels, ids, mask, image_idx, swap_ids, swap_mask,
    swap_valid), the last three None without swaps."""
    pixels, ids, mask, image_idx, swap = batch
    swap = tuple(t.to(device) for t in swap) if swap else (None, None, None)
    return (pixels.to(device), ids.to(device), mask.to(device), image_idx.to(device), *swap)


def endless_batches(loader, sampler: OneCaptionPerImageSampler):
    """The loader's batches for ever, a new epoch (new order, new captions) each time round."""
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


# ---- schedule ------------------------------------------------------------------------------

def learning_rate(step: int, total: int, args) -> float:
    """Linear warm-up to --lr, then cosine decay to --min-lr (ALBEF uses warm-up + cosine)."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    progress = min(1.0, (step - args.warmup_steps) / max(1, total - args.warmup_steps))
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * progress))


def build_optimizer(model: ALBEF, args) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases, norms, embeddings' positions, tokens and temperature."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "pos_embed" in name or "cls_token" in name else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
    )


# ---- evaluation ----------------------------------------------------------------------------

@torch.no_grad()
def embed_eval_set(model: ALBEF, dataset, tokenizer: TextTokenizer, device, batch_size=128, max_images=None):
    """ITC embeddings and token features of every image and text of an eval split."""
    n_images = len(dataset) if max_images is None else min(max_images, len(dataset))
    image_embeds, image_feats = [], []
    for start in range(0, n_images, batch_size):
        pixels = torch.stack([dataset[i][0] for i in range(start, min(n_images, start + batch_size))]).to(device)
        embedding, feats = model.encode_image(pixels)
        image_embeds.append(embedding.float())
        image_feats.append(feats.float())
    text_ids = [t for t in range(len(dataset.texts)) if dataset.txt2img[t] < n_images]
    text_embeds, text_feats, text_masks = [], [], []
    for start in range(0, len(text_ids), batch_size):
        ids, mask = tokenizer.encode_batch([dataset.texts[t] for t in text_ids[start : start + batch_size]])
        ids, mask = ids.to(device), mask.to(device)
        embedding, feats = model.encode_text(ids, mask)
        text_embeds.append(embedding.float())
        # Pad every batch to max_tokens so all texts stack into one tensor.
        pad = tokenizer.max_tokens - ids.shape[1]
        n = model.cfg.feature_layers
        feats = feats.view(ids.shape[0], n, ids.shape[1], -1)
        feats = torch.nn.functional.pad(feats, (0, 0, 0, pad)).view(ids.shape[0], n * tokenizer.max_tokens, -1)
        text_feats.append(feats.float())
        text_masks.append(torch.nn.functional.pad(mask, (0, pad)))
    img2txt_index = {t: j for j, t in enumerate(text_ids)}
    img2txt = [[img2txt_index[t] for t in dataset.img2txt[i]] for i in range(n_images)]
    txt2img = [dataset.txt2img[t] for t in text_ids]
    return (
        torch.cat(image_embeds), torch.cat(image_feats), torch.cat(text_embeds), torch.cat(text_feats),
        torch.cat(text_masks), img2txt, txt2img,
    )


@torch.no_grad()
def itm_match_scores(model: ALBEF, text_feats, text_mask, image_feats) -> torch.Tensor:
    """ITM match logits of row-aligned (caption, image) pairs; a side given as one row is paired
    with every row of the other (one query against its candidates)."""
    n = max(len(text_feats), len(image_feats))
    text_feats, text_mask, image_feats = (t.expand(n, *t.shape[1:]) for t in (text_feats, text_mask, image_feats))
    image_mask = torch.ones(n, image_feats.shape[1], dtype=torch.long, device=image_feats.device)
    return model.itm_logits(text_feats, text_mask, image_feats, image_mask)[:, 1]


def blend_row(k: int, itc_weight: float) -> str:
    """evaluate's name for the row that ranks ITC's top-k by ITM logit + itc_weight x ITC cosine."""
    return f"ITC+ITM k={k} +{itc_weight:g}·ITC"


def evaluate(model: ALBEF, dataset, tokenizer: TextTokenizer, device, k_values, max_images=None, batch_size=128,
             itc_weights=()):
    """ALBEF's retrieval evaluation: the ITC similarity matrix, then ITM scores for the top-k
    candidates of every query (the rest stay at -100). ITM scores are computed once for the
    largest k and reused for the smaller ones (their top-k is a prefix), and for the rows
    ``ITC+ITM k=K +W·ITC`` of each of ``itc_weights``: ITM logit + W x ITC cosine (W = 1 is BLIP's
    score; see retrieval_eval.rerank_scores)."""
    model.eval()
    image_embed, image_feats, text_embed, text_feats, text_mask, img2txt, txt2img = embed_eval_set(
        model, dataset, tokenizer, device, batch_size, max_images
    )
    sim_i2t = (image_embed @ text_embed.T).cpu().numpy()
    results = {"ITC": retrieval_eval.itm_eval(sim_i2t, sim_i2t.T, img2txt, txt2img)}
    cache: dict[tuple[str, int, int], float] = {}

    def itm_scores(pixels_side: str):
        def score(query: int, candidates: np.ndarray) -> np.ndarray:
            missing = [int(c) for c in candidates if (pixels_side, query, int(c)) not in cache]
            for start in range(0, len(missing), batch_size):
                chunk = torch.tensor(missing[start : start + batch_size], device=device)
                one = slice(query, query + 1)
                if pixels_side == "i2t":  # query image, candidate texts
                    scores = itm_match_scores(model, text_feats[chunk], text_mask[chunk], image_feats[one])
                else:  # query text, candidate images
                    scores = itm_match_scores(model, text_feats[one], text_mask[one], image_feats[chunk])
                for c, s in zip(chunk.tolist(), scores.float().tolist()):
                    cache[(pixels_side, query, c)] = s
            return np.array([cache[(pixels_side, query, int(c))] for c in candidates], dtype=np.float32)

        return score

    for k in sorted(k_values, reverse=True):
        i2t = retrieval_eval.rerank_scores(sim_i2t, k, itm_scores("i2t"))
        t2i = retrieval_eval.rerank_scores(sim_i2t.T, k, itm_scores("t2i"))
        results[f"ITC+ITM k={k}"] = retrieval_eval.itm_eval(i2t, t2i, img2txt, txt2img)
        for w in itc_weights:
            i2t = retrieval_eval.rerank_scores(sim_i2t, k, itm_scores("i2t"), "itm_plus_itc", w)
            t2i = retrieval_eval.rerank_scores(sim_i2t.T, k, itm_scores("t2i"), "itm_plus_itc", w)
            results[blend_row(k, w)] = retrieval_eval.itm_eval(i2t, t2i, img2txt, txt2img)
    model.train()
    return dict(sorted(results.items(), key=lambda kv: (kv[0] != "ITC", len(kv[0]), kv[0])))


# ---- checkpoints ---------------------------------------------------------------------------

def save_checkpoint(path: Path, model: ALBEF, optimizer, step: int, epoch: int, args, tokenizer_path: Path, metrics=None):
    """A checkpoint carries its config and tokenizer, so export needs nothing else."""
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "config": model.cfg.to_dict(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "step": step, "epoch": epoch, "args": {k: str(v) for k, v in vars(args).items()},
            "tokenizer_json": tokenizer_path.read_text(encoding="utf-8"), "metrics": metrics,
        },
        tmp,
    )
    tmp.replace(path)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint [{path}] does not exist")
    return torch.load(path, map_location=map_location, weights_only=False)


def tokenizer_from_checkpoint(checkpoint: dict, max_tokens: int) -> TextTokenizer:
    """The tokenizer a checkpoint carries (the library loads only from a file, so through a
    temporary one)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        path.write_text(checkpoint["tokenizer_json"], encoding="utf-8")
        return TextTokenizer(path, max_tokens)


def model_from_checkpoint(path: Path, map_location="cpu") -> tuple[ALBEF, dict]:
    checkpoint = load_checkpoint(path, map_location)
    model = ALBEF(ModelConfig.from_dict(checkpoint["config"]))
    model.load_state_dict(checkpoint["model"])
    return model, checkpoint


# ---- the loop ------------------------------------------------------------------------------

def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.reset_fusion and not args.init:
        raise ValueError("--reset-fusion re-initialises the fusion encoder of an --init checkpoint; none was given")
    if not args.in_batch_negatives and (args.mode != "itm" or not args.swap_vocab):
        raise ValueError("--no-in-batch-negatives needs --mode itm and --swap-vocab: the swapped captions are then the only negatives")
    if args.lesson_ann and (args.mode != "itm" or not args.swap_vocab):
        raise ValueError("--lesson-ann needs --mode itm and --swap-vocab: its only negatives are the swapped captions")
    if args.lesson_swap_vocab and not args.lesson_ann:
        raise ValueError("--lesson-swap-vocab is the swap vocabulary of --lesson-ann, which was not given")
    if args.mode == "itm" and not (args.init or args.resume):
        raise ValueError("--mode itm trains ITM on frozen encoders and needs --init (a trained checkpoint)")
    world, rank, local_rank = init_distributed()
    is_main = rank == 0
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(f"cuda:{local_rank}" if args.device == "cuda" else args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
    if args.threads:
        torch.set_num_threads(args.threads)
    use_bf16 = device.type == "cuda" if args.bf16 is None else args.bf16
    torch.manual_seed(args.seed + rank)
    random.seed(args.seed + rank)
    np.random.seed(args.seed + rank)
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = (args.out / "log.jsonl").open("a", encoding="utf-8") if is_main else None

    started = time.perf_counter()

    def log(record: dict):
        record = {**record, "elapsed_s": round(time.perf_counter() - started, 1)}
        if is_main:
            print(json.dumps(record), flush=True)
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()

    train_annotations = data.load_annotations(args.train_ann)
    checkpoint = load_checkpoint(args.resume) if args.resume else None
    # --init (e.g. pretrain -> finetune) takes the weights, their config and their tokenizer.
    init = load_checkpoint(args.init) if args.init and checkpoint is None else None
    source = checkpoint or init
    tokenizer_path = args.out / "tokenizer.json"
    if source is not None:
        tokenizer_path.write_text(source["tokenizer_json"], encoding="utf-8")
    elif args.tokenizer:
        tokenizer_path.write_text(args.tokenizer.read_text(encoding="utf-8"), encoding="utf-8")
    elif is_main:
        captions = [data.pre_caption(c) for entry in train_annotations for c in entry["caption"]]
        train_wordpiece(captions, tokenizer_path, vocab_size=args.vocab_size)
    if world > 1:
        dist.barrier()

    if source is not None:
        cfg = ModelConfig.from_dict(source["config"])
        if init is not None and args.fusion_image_positions is not None:
            cfg = replace(cfg, fusion_image_positions=args.fusion_image_positions)
    else:
        # Options left unset keep the preset's value.
        optional = {key: getattr(args, key) for key in ("alpha", "fusion_image_positions")}
        overrides = {"bridge": args.bridge, **{k: v for k, v in optional.items() if v is not None}}
        cfg = preset(args.preset, **overrides)
    tokenizer = TextTokenizer(tokenizer_path, cfg.max_tokens)
    cfg = ModelConfig(**{**cfg.to_dict(), "vocab_size": tokenizer.vocab_size, "pad_id": tokenizer.pad_id,
                         "cls_id": tokenizer.cls_id, "sep_id": tokenizer.sep_id, "mask_id": tokenizer.mask_id})
    model = ALBEF(cfg).to(device)
    if init is not None:
        model.load_state_dict(init["model"])
        if args.reset_fusion:
            model.reset_fusion()
        model.copy_to_momentum()
    if args.mode == "itm":
        # Departure from ALBEF, which trains ITM jointly with ITC: here the dual encoders (and so
        # ITC retrieval and every stored vector) stay exactly as they are, and only the reranker
        # learns. On two CPU cores a step is also about 2.5 times faster than a joint one, which
        # makes the thousands of steps relations need affordable (docs/training.md: the ITM stage).
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.startswith(("fusion.", "itm_head."))
    optimizer = build_optimizer(model, args)
    step, start_epoch = 0, 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        step, start_epoch = checkpoint["step"], checkpoint["epoch"] + 1
    train_module = model
    if world > 1:
        train_module = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None, find_unused_parameters=args.mode != "pretrain"
        )

    swapper = CaptionSwapper.load(args.swap_vocab) if args.swap_vocab else None
    transform = data.ImageTransform(cfg.image_size)
    train_set = data.RetrievalTrainDataset(args.train_ann, args.image_root, transform)
    sampler = OneCaptionPerImageSampler(
        pairs_by_image(train_set.pairs), args.seed, world, rank, args.batch_size)
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=args.batch_size, sampler=sampler, collate_fn=collate(tokenizer, swapper, args.seed + rank),
        num_workers=args.workers, drop_last=True, persistent_workers=args.workers > 0,
    )
    lessons = None
    if args.lesson_ann:
        if world > 1:
            raise ValueError("--lesson-ann runs a second forward pass per step, which DistributedDataParallel does not "
                             "support: run the ITM stage as one process")
        lesson_set = data.RetrievalTrainDataset(args.lesson_ann, args.image_root, transform)
        lesson_sampler = OneCaptionPerImageSampler(pairs_by_image(lesson_set.pairs), args.seed + 1)
        lesson_loader = torch.utils.data.DataLoader(
            lesson_set, batch_size=args.lesson_batch_size, sampler=lesson_sampler, drop_last=True,
            collate_fn=collate(tokenizer, CaptionSwapper.load(args.lesson_swap_vocab) if args.lesson_swap_vocab else swapper,
                               args.seed + 1),
        )
        if len(lesson_loader) == 0:
            raise ValueError(f"--lesson-batch-size [{args.lesson_batch_size}] exceeds the [{len(lesson_set.annotations)}] "
                             f"images of {args.lesson_ann}")
        lessons = endless_batches(lesson_loader, lesson_sampler)
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ValueError(f"batch size [{args.batch_size}] x world [{world}] exceeds the [{len(train_annotations)}] training images")
    total_steps = args.max_steps or steps_per_epoch * args.epochs
    queue_warmup = steps_per_epoch if args.queue_warmup_steps is None else args.queue_warmup_steps
    val_set = data.RetrievalEvalDataset(args.val_ann, args.image_root, transform) if args.val_ann else None
    log({"event": "start", "config": cfg.to_dict(), "mode": args.mode, "world": world, "device": str(device),
         "bf16": use_bf16, "train_images": len(sampler) * world, "steps_per_epoch": steps_per_epoch,
         "total_steps": total_steps, "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)})

    flops_per_step = None
    best = -1.0
    history = []
    for epoch in range(start_epoch, args.epochs):
        sampler.set_epoch(epoch)
        seen, tick = 0, time.perf_counter()
        for batch in loader:
            if step >= total_steps:
                break
            pixels, ids, mask, image_idx, swap_ids, swap_mask, swap_valid = batch_to(batch, device)
            lr = learning_rate(step, total_steps, args)
            for group in optimizer.param_groups:
                group["lr"] = lr
            # ALBEF ramps the distillation weight from 0 over the first epoch.
            alpha = cfg.alpha * min(1.0, step / steps_per_epoch) if epoch == 0 else cfg.alpha
            # Count the model FLOPs of this process's first step once, for the utilisation figure.
            counter = FlopCounterMode(display=False) if flops_per_step is None else None
            ramp = args.hard_negative_ramp_epochs * steps_per_epoch
            hard_ratio = min(1.0, step / ramp) if ramp > 0 else 1.0
            with counter or contextlib.nullcontext(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                losses = train_module(pixels, ids, mask, image_idx, alpha=alpha, mlm=args.mode == "pretrain",
                                      use_queue=step >= queue_warmup, hard_ratio=hard_ratio, gather=all_gather_no_grad,
                                      swap_ids=swap_ids, swap_mask=swap_mask, swap_valid=swap_valid,
                                      itc=args.mode != "itm", in_batch_negatives=args.in_batch_negatives)
                if lessons is not None:
                    *lesson, lesson_swap_ids, lesson_swap_mask, lesson_swap_valid = batch_to(next(lessons), device)
                    losses["itm_lesson"] = train_module(
                        *lesson, alpha=0.0, mlm=False, swap_ids=lesson_swap_ids, swap_mask=lesson_swap_mask,
                        swap_valid=lesson_swap_valid, itc=False, in_batch_negatives=False)["itm"]
                loss = sum(losses.values())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            if counter:
                flops_per_step = counter.get_total_flops() * world
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            optimizer.step()
            step += 1
            seen += pixels.shape[0] * world
            if step % args.log_every == 0 or step == total_steps:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                elapsed = time.perf_counter() - tick
                record = {"event": "train", "epoch": epoch, "step": step, "lr": round(lr, 7), "alpha": round(alpha, 3),
                          "hard_ratio": round(hard_ratio, 3),
                          **{f"loss_{k}": round(v.item(), 4) for k, v in losses.items()},
                          "grad_norm": round(float(grad_norm), 3), "temp": round(model.temp.item(), 4),
                          "images_per_s": round(seen / elapsed, 1)}
                if flops_per_step and args.peak_tflops:
                    achieved = flops_per_step * (seen / (args.batch_size * world)) / elapsed
                    record["mfu"] = round(achieved / (args.peak_tflops * 1e12), 4)
                log(record)
                seen, tick = 0, time.perf_counter()
        if is_main:
            metrics = None
            if val_set is not None:
                results = evaluate(model, val_set, tokenizer, device, args.eval_k, args.eval_max_images)
                metrics = {name: {k: round(v, 2) for k, v in r.items()} for name, r in results.items()}
                log({"event": "eval", "epoch": epoch, "split": "val", "results": metrics})
                print(retrieval_eval.format_table(results), file=sys.stderr, flush=True)
                history.append(metrics)
            save_checkpoint(args.out / "checkpoint_last.pt", model, optimizer, step, epoch, args, tokenizer_path, metrics)
            # The ITM stage leaves ITC as it is, so only the rerank rows can tell its epochs apart.
            ranked = {name: r for name, r in (metrics or {}).items() if args.mode != "itm" or name != "ITC"}
            score = max(r["r_mean"] for r in ranked.values()) if ranked else epoch
            if score > best:
                best = score
                save_checkpoint(args.out / "checkpoint_best.pt", model, optimizer, step, epoch, args, tokenizer_path, metrics)
        if world > 1:
            dist.barrier()
        if step >= total_steps:
            break

    summary = {"steps": step, "history": history}
    if is_main and args.test_ann:
        test_set = data.RetrievalEvalDataset(args.test_ann, args.image_root, transform)
        results = evaluate(model, test_set, tokenizer, device, args.eval_k)
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
