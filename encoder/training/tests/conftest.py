"""Shared fixtures: a small synthetic scenes split and a tiny trained run, built once per session."""

from pathlib import Path

import json

import pytest

import pretrain
import scenes


def settings(**values) -> list[str]:
    """pretrain.py's --set options for ``values`` (TrainSettings fields)."""
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={json.dumps(value)}")]


@pytest.fixture(scope="session")
def scenes_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scenes")
    scenes.generate(out, n_train=48, n_val=12, n_test=12, seed=3, image_size=32)
    return out


@pytest.fixture(scope="session")
def tiny_run(scenes_dir, tmp_path_factory) -> Path:
    """Two epochs of the tiny preset with MLM, validation each epoch: a real (short) pretraining."""
    out = tmp_path_factory.mktemp("run")
    pretrain.main([
        "--train-ann", str(scenes_dir / "train.json"), "--val-ann", str(scenes_dir / "val.json"),
        "--image-root", str(scenes_dir), "--out", str(out), "--threads", "1",
        *settings(preset="tiny", epochs=2, batch_size=8, warmup_steps=2, log_every=2, eval_k=[4, 8], vocab_size=200),
    ])
    return out
