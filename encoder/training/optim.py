"""The optimizer and its learning-rate schedule (ALBEF: AdamW, warm-up, cosine decay)."""

from __future__ import annotations

import math

import torch

from model import ALBEF
from recipes import TrainSettings


def learning_rate(step: int, total: int, settings: TrainSettings) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr`` by step ``total``."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    progress = min(1.0, (step - settings.warmup_steps) / max(1, total - settings.warmup_steps))
    return settings.min_lr + 0.5 * (settings.lr - settings.min_lr) * (1 + math.cos(math.pi * progress))


def build_optimizer(model: ALBEF, settings: TrainSettings) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; no weight decay on biases, norms, embeddings'
    positions, tokens and temperature."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "pos_embed" in name or "cls_token" in name else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr
    )
