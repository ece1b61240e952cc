"""Checkpoint I/O: a checkpoint is one torch.save'd dict that carries its model config and its
tokenizer, so export and fine-tuning need nothing else."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from model import ALBEF, ModelConfig
from recipes import TrainSettings
from tokenizer import TextTokenizer


def save_checkpoint(path: Path, model: ALBEF, optimizer, step: int, epoch: int, settings: TrainSettings,
                    tokenizer_path: Path, metrics=None):
    """A checkpoint carries its config and tokenizer, so export needs nothing else; also the
    optimizer state and step (for --resume), the run's settings and its last validation metrics.
    Written to a temporary file first, so a crash never leaves half a checkpoint."""
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "config": model.cfg.to_dict(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "step": step, "epoch": epoch, "settings": settings.to_dict(),
            "tokenizer_json": tokenizer_path.read_text(encoding="utf-8"), "metrics": metrics,
        },
        tmp,
    )
    tmp.replace(path)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """A checkpoint's dict: "config" (model.ModelConfig), "model" (the state dict) and
    "tokenizer_json" in every checkpoint this code ever wrote; the rest as save_checkpoint says."""
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
    """The model a checkpoint holds, built from its own config, and the checkpoint."""
    checkpoint = load_checkpoint(path, map_location)
    model = ALBEF(ModelConfig.from_dict(checkpoint["config"]))
    model.load_state_dict(checkpoint["model"])
    return model, checkpoint
