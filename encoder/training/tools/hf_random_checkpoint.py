"""What the random-weight Hugging Face checkpoint writers (``random_blip_checkpoint``,
``random_vilt_checkpoint``, ``random_bridgetower_checkpoint``) share: the model saved as a published
checkpoint names it, the older pickled-weights layout, a generated WordPiece vocabulary and its
tokenizer files, and the command line's common options. Each writer keeps its own config, weights
and image processor.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import BertTokenizerFast, PreTrainedModel

BERT_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BERT_BASE_VOCAB = 30522  # bert-base-uncased's vocabulary size


def save_model(model: PreTrainedModel, out: Path) -> None:
    """``save_pretrained`` of ``model``, its config's ``architectures`` naming its class as a
    published checkpoint's does."""
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(out)


def pickle_weights(out: Path) -> None:
    """The older layout: ``model.safetensors`` replaced by the same state dict pickled in
    ``pytorch_model.bin``."""
    weights = out / "model.safetensors"
    torch.save(load_file(str(weights)), out / "pytorch_model.bin")
    weights.unlink()


def wordpiece_vocabulary(words: list[str], size: int | None = None) -> list[str]:
    """BERT's special tokens, ``words``, the letters and their ``##`` continuations; padded with
    ``[unused...]`` word pieces to ``size`` where given. Its ids mean nothing."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = list(dict.fromkeys(BERT_SPECIAL + words + letters + [f"##{c}" for c in letters]))
    if size is not None:
        vocab += [f"[unused{i}]" for i in range(size - len(vocab))]
    return vocab


def write_wordpiece_tokenizer(out: Path, vocab: list[str], model_max_length: int,
                              special_tokens: dict | None = None) -> None:
    """A lowercasing ``BertTokenizerFast`` of ``vocab`` (with ``special_tokens`` added after it)
    saved as a published checkpoint has it: ``tokenizer.json`` and ``vocab.txt`` both."""
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    if special_tokens:
        tokenizer.add_special_tokens(special_tokens)
    tokenizer.model_max_length = model_max_length
    tokenizer.save_pretrained(out)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")


def arguments(family: str, config_class: str) -> argparse.ArgumentParser:
    """The options every writer takes: ``--out``, ``--tiny`` (the tests' tiny config instead of
    ``config_class``'s defaults) and ``--seed``."""
    p = argparse.ArgumentParser(description=f"Write a random-weight {family} retrieval checkpoint directory.")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tiny", action="store_true", help=f"the tests' tiny config instead of {config_class}() defaults")
    p.add_argument("--seed", type=int, default=0)
    return p
