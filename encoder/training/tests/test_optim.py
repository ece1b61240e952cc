"""The learning-rate schedule and the optimizer's parameter groups."""

import pytest

from model import ALBEF, preset
from optim import build_optimizer, learning_rate
from recipes import TrainSettings


def test_learning_rate_warms_up_then_decays_to_the_minimum():
    settings = TrainSettings(lr=1e-3, min_lr=1e-5, warmup_steps=10)
    assert learning_rate(0, 100, settings) == pytest.approx(1e-4)
    assert learning_rate(9, 100, settings) == pytest.approx(1e-3)
    assert learning_rate(55, 100, settings) == pytest.approx((1e-3 + 1e-5) / 2)
    assert learning_rate(100, 100, settings) == pytest.approx(1e-5)


def test_no_weight_decay_on_biases_norms_positions_and_the_temperature():
    model = ALBEF(preset("tiny"))
    decay, no_decay = build_optimizer(model, TrainSettings(weight_decay=0.05)).param_groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert any(p is model.temp for p in no_decay["params"]) and any(p is model.vision.pos_embed for p in no_decay["params"])
    assert all(p.ndim == 2 or p.ndim == 4 for p in decay["params"])
