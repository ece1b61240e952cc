"""Checkpoint I/O: a checkpoint carries its config and tokenizer, and old checkpoints still load."""

import json

import pytest
import torch

from checkpoints import load_checkpoint, model_from_checkpoint, tokenizer_from_checkpoint
from model import ALBEF


def test_checkpoint_carries_its_config_and_tokenizer(tiny_run):
    model, checkpoint = model_from_checkpoint(tiny_run / "checkpoint_last.pt")
    assert isinstance(model, ALBEF)
    assert checkpoint["config"]["vocab_size"] == model.cfg.vocab_size
    assert json.loads(checkpoint["tokenizer_json"])["model"]["type"] == "WordPiece"
    tokenizer = tokenizer_from_checkpoint(checkpoint, model.cfg.max_tokens)
    assert tokenizer.vocab_size == model.cfg.vocab_size


def test_a_checkpoint_with_only_config_model_and_tokenizer_loads(tiny_run, tmp_path):
    """The keys every checkpoint ever written has; export and --init need no others."""
    checkpoint = torch.load(tiny_run / "checkpoint_last.pt", weights_only=False)
    old = tmp_path / "old.pt"
    torch.save({key: checkpoint[key] for key in ("config", "model", "tokenizer_json")} | {"args": {"lr": "0.0003"}}, old)
    model, loaded = model_from_checkpoint(old)
    assert all(torch.equal(value, checkpoint["model"][name]) for name, value in model.state_dict().items())
    assert tokenizer_from_checkpoint(loaded, model.cfg.max_tokens).vocab_size == model.cfg.vocab_size


def test_a_checkpoint_naming_removed_switches_loads_only_at_their_built_values(tiny_run, tmp_path):
    checkpoint = torch.load(tiny_run / "checkpoint_last.pt", weights_only=False)
    retired = {"conv_stem": False, "image_positions": "learned", "fusion_attention": "bidirectional"}
    old = tmp_path / "old.pt"
    torch.save({**checkpoint, "config": {**checkpoint["config"], **retired}}, old)
    model, _ = model_from_checkpoint(old)
    assert model.cfg.to_dict() == checkpoint["config"]
    torch.save({**checkpoint, "config": {**checkpoint["config"], **retired, "fusion_attention": "causal"}}, old)
    with pytest.raises(ValueError, match=r"config \[fusion_attention\] is \[causal\]"):
        model_from_checkpoint(old)


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"checkpoint \[.*nope.pt\] does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
