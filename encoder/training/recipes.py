"""Training settings: every hyper-parameter of a run, typed and documented (TrainSettings), read
from a recipe (``recipes/NAME.json``, one per shipped model stage) and ``key=value`` overrides.

A recipe is a JSON object whose keys are TrainSettings fields ("warmup_steps"; dashes may stand
for underscores); a key it leaves out keeps the field's default. ``pretrain.py --set KEY=VALUE``
overrides one field after the recipe: VALUE is read as JSON where it parses (``5``, ``1e-3``,
``true``, ``null``, ``[4, 8]``), else as a string (``mode=itm``). An unknown key or a value of the
wrong kind is refused naming both. The files a run reads and writes are not settings: they are
RunFiles, given on pretrain.py's command line.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from model import PRESETS

# pretrain: ITC + ITM + MLM. finetune: ITC + ITM (ALBEF's retrieval fine-tuning). itm: the fusion
# encoder and ITM head alone on frozen encoders (a departure from ALBEF, see pretrain.py).
MODES = ("pretrain", "finetune", "itm")


def _setting(default, doc: str):
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class TrainSettings:
    """The hyper-parameters of one training run (pretrain.py); each field's doc says what it does."""

    mode: str = _setting("pretrain", f"what to train, one of {list(MODES)}: pretrain ITC + ITM + MLM; finetune ITC + ITM; "
                                     "itm ITM alone on the frozen encoders of an --init checkpoint")
    preset: str = _setting("small", f"model size when not starting from a checkpoint, one of {sorted(PRESETS)}")
    bridge: bool = _setting(False, "BridgeTower bridge layers (model.py), when not starting from a checkpoint")
    fusion_image_positions: bool | None = _setting(
        None, "2D sincos codes on the image tokens inside the fusion encoder (null: the preset's, or the --init checkpoint's)")
    reset_fusion: bool = _setting(False, "start the --init checkpoint's fusion encoder and ITM head afresh")
    vocab_size: int = _setting(2000, "WordPiece vocabulary when training the tokenizer on the train captions")
    epochs: int = _setting(10, "passes over the training images")
    max_steps: int | None = _setting(None, "stop after this many optimizer steps (null: epochs x steps per epoch)")
    batch_size: int = _setting(64, "images per step and process (one caption each)")
    lr: float = _setting(3e-4, "peak learning rate, reached after the warm-up")
    min_lr: float = _setting(1e-5, "learning rate at the end of the cosine decay")
    warmup_steps: int = _setting(200, "steps of linear learning-rate warm-up")
    weight_decay: float = _setting(0.02, "AdamW weight decay (not on biases, norms, positions, tokens, temperature)")
    grad_clip: float = _setting(1.0, "gradient norm clipping")
    alpha: float | None = _setting(None, "momentum-distillation weight, ramped from 0 over epoch 1 (null: the preset's)")
    queue_warmup_steps: int | None = _setting(None, "contrast in-batch only for this many steps (null: one epoch)")
    hard_negative_ramp_epochs: float = _setting(
        0.0, "ramp the share of ITC-sampled ITM negatives from 0 to 1 over this many epochs (0: ALBEF, all hard)")
    in_batch_negatives: bool = _setting(
        True, "ITM negatives drawn from the batch by ITC similarity; false (itm mode, --swap-vocab): swapped captions only")
    lesson_batch_size: int = _setting(32, "captions of --lesson-ann per step")
    eval_k: tuple[int, ...] = _setting((16, 32), "rerank windows of the validation and test evaluation")
    eval_max_images: int | None = _setting(None, "evaluate on the first N validation images only (null: all)")
    seed: int = _setting(0, "initialisation, batch order and negatives")
    bf16: bool | None = _setting(None, "bf16 autocast (null: on for CUDA)")
    log_every: int = _setting(20, "steps between train log records")
    peak_tflops: float | None = _setting(None, "accelerator peak, for the logged model-FLOPs utilisation (H200 bf16: 989)")

    @classmethod
    def from_dict(cls, options: dict, source: str = "settings") -> TrainSettings:
        """Defaults overridden by ``options``; ``source`` names where they came from in errors."""
        return cls().with_options(options, source)

    @classmethod
    def from_recipe(cls, recipe: Path | None, overrides: typing.Iterable[str] = ()) -> TrainSettings:
        """The recipe's settings (defaults without one), then each ``key=value`` override."""
        settings = cls()
        if recipe is not None:
            if not recipe.is_file():
                raise FileNotFoundError(f"recipe [{recipe}] does not exist")
            options = json.loads(recipe.read_text(encoding="utf-8"))
            if not isinstance(options, dict):
                raise ValueError(f"recipe [{recipe}] is not a JSON object")
            settings = settings.with_options(options, f"recipe [{recipe}]")
        return settings.with_options(dict(map(parse_override, overrides)), "--set")

    def with_options(self, options: dict, source: str = "settings") -> TrainSettings:
        """A copy with ``options`` (field name -> value) applied, each checked against its field's type."""
        hints = typing.get_type_hints(TrainSettings)
        changes = {}
        for key, value in options.items():
            name = key.replace("-", "_")
            if name not in hints:
                raise ValueError(f"{source} sets unknown key [{key}]; valid: {sorted(hints)}")
            changes[name] = _coerce(name, value, hints[name], source)
        return replace(self, **changes)

    def validate(self, files: RunFiles) -> None:
        """Refuses values out of range and combinations that cannot run, naming them."""
        if self.mode not in MODES:
            raise ValueError(f"mode [{self.mode}] is not one of {list(MODES)}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset [{self.preset}] is not one of {sorted(PRESETS)}")
        for name in ("epochs", "batch_size", "lesson_batch_size", "log_every", "max_steps", "eval_max_images"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} [{value}] must be at least 1")
        for name in ("warmup_steps", "queue_warmup_steps", "hard_negative_ramp_epochs", "min_lr", "weight_decay"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} [{value}] must not be negative")
        if self.lr <= 0 or self.grad_clip <= 0:
            raise ValueError(f"lr [{self.lr}] and grad_clip [{self.grad_clip}] must be positive")
        if not self.eval_k or min(self.eval_k) < 1:
            raise ValueError(f"eval_k [{list(self.eval_k)}] must list rerank windows of at least 1")
        if self.reset_fusion and not files.init:
            raise ValueError("reset_fusion [true] re-initialises the fusion encoder of an --init checkpoint; none was given")
        if self.mode == "itm" and not (files.init or files.resume):
            raise ValueError("mode [itm] trains ITM on frozen encoders and needs --init (a trained checkpoint)")
        if not self.in_batch_negatives and (self.mode != "itm" or not files.swap_vocab):
            raise ValueError(f"in_batch_negatives [false] needs mode itm, not [{self.mode}], and --swap-vocab: "
                             "the swapped captions are then the only negatives")
        if files.lesson_ann and (self.mode != "itm" or not files.swap_vocab):
            raise ValueError(f"--lesson-ann [{files.lesson_ann}] needs mode itm, not [{self.mode}], and --swap-vocab: "
                             "its only negatives are the swapped captions")
        if files.lesson_swap_vocab and not files.lesson_ann:
            raise ValueError(f"--lesson-swap-vocab [{files.lesson_swap_vocab}] is the swap vocabulary of --lesson-ann, "
                             "which was not given")

    def to_dict(self) -> dict:
        return {**asdict(self), "eval_k": list(self.eval_k)}


@dataclass(frozen=True)
class RunFiles:
    """The files a run reads and writes (pretrain.py's command line), apart from its settings."""

    train_ann: Path  # Karpathy-format training annotations
    image_root: Path  # the annotations' image paths are relative to it
    out: Path  # run directory: log.jsonl, tokenizer.json, checkpoint_last.pt, checkpoint_best.pt
    val_ann: Path | None = None  # evaluated after every epoch
    test_ann: Path | None = None  # evaluated once at the end
    tokenizer: Path | None = None  # an existing tokenizer.json (default: train one on the train captions)
    swap_vocab: Path | None = None  # scenes.py's swap_vocab.json: word-swapped captions as extra ITM negatives
    lesson_ann: Path | None = None  # itm mode: captions scored against their own images and swaps only, every step
    lesson_swap_vocab: Path | None = None  # the lesson's own swap vocabulary (default: swap_vocab)
    init: Path | None = None  # start from this checkpoint's weights, config and tokenizer
    resume: Path | None = None  # continue this run's checkpoint (weights, optimizer, step)


def parse_override(text: str) -> tuple[str, object]:
    """``key=value`` -> (key, value): the value as JSON where it parses, else the string itself."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--set [{text}] is not KEY=VALUE")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def describe() -> str:
    """One line per setting, its default and its doc (pretrain.py --help prints it)."""
    lines = []
    for f in fields(TrainSettings):
        default = json.dumps(list(f.default) if isinstance(f.default, tuple) else f.default)
        lines.append(f"  {f.name} = {default}: {f.metadata['doc']}")
    return "\n".join(lines)


def _coerce(name: str, value, kind, source: str):
    """``value`` as ``kind`` (bool, int, float, str, optional ones, tuple[int, ...]); an int is a
    float where a float is asked for, nothing else converts."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if value is None:
            return None
        (kind,) = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(_coerce(name, v, typing.get_args(kind)[0], source) for v in value)
    elif kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif kind in (bool, str) and isinstance(value, kind):
        return value
    expected = "a list of int" if typing.get_origin(kind) is tuple else kind.__name__
    raise ValueError(f"{source} sets [{name}] to [{json.dumps(value)}], which is not {expected}")
