"""Write a random-weight ``BridgeTowerForImageAndTextRetrieval`` checkpoint directory laid out as a
published one is (``save_pretrained`` of the model, a RoBERTa byte-level BPE tokenizer and a
``BridgeTowerImageProcessor`` config): what the importer's tests and its full-size cost
measurement read, since no checkpoint can be downloaded here.

    python tools/random_bridgetower_checkpoint.py --out /tmp/bt-base          # BridgeTowerConfig() defaults, 288 px
    python tools/random_bridgetower_checkpoint.py --out /tmp/bt-tiny --tiny   # the Java fixture's tiny shape

The tokenizer is built offline and deterministically: the 256 byte-level symbols, merges that
spell a fixed word list (with and without the leading-space marker ``Ġ``) and RoBERTa's special
tokens at RoBERTa's ids (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, ``<mask>`` last). Its ids
mean nothing; only the shapes and the code paths are real. The full-size model keeps RoBERTa's
50,265-row embedding table, of which the small vocabulary uses the first rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import pre_tokenizers
from transformers import (BridgeTowerConfig, BridgeTowerForImageAndTextRetrieval, BridgeTowerImageProcessorPil,
                          RobertaTokenizerFast)

SPECIAL = ["<s>", "<pad>", "</s>", "<unk>"]  # RoBERTa's ids 0..3; <mask> goes last
WORDS = ["a", "an", "the", "red", "blue", "green", "circle", "square", "squares", "star", "stars", "dog", "cat",
         "on", "of", "left", "right", "small", "large", "photo", "man", "riding", "horse", "cafe", "at", "and",
         "two", "is", "to", "in"]
SPACE = "Ġ"  # the byte-level pre-tokenizer's symbol for a leading space

# BridgeTower initialises Linear and Embedding weights with std 0.05 x initializer_factor. At
# factor 6 on the text side and the cross-modal encoder (std 0.3) the tiny model's ITM logits differ
# by tenths between images and between captions, so a test can check a ranking, not just ties. The
# ViT keeps factor 1 (CLIP's init, std hidden_size^-0.5 in attention): larger weights saturate its
# softmax, where float32 rounding differences between ONNX Runtime and PyTorch grow to 1e-4.
TINY_INIT_FACTOR = 6.0
# The tiny processor's size_divisor. At 32 px the default 32 resizes every image to exactly
# 32 x 32, so the centre crop would never crop or pad; at 16 a 5:3 image is cropped and a 2:1 one
# (32 x 64 bounded to 27 x 53, floored to 16 x 48) is also zero-padded.
TINY_SIZE_DIVISOR = 16


def tiny_config(image_size: int = 32, patch_size: int = 8, layers: int = 2, cross_layers: int = 2) -> BridgeTowerConfig:
    """``layers`` uni-modal layers a side, the top ``cross_layers`` of them linked to as many
    cross-modal layers, 16 wide: a whole import and its checks take seconds, and the committed
    fixture stays under 1 MB.

    The cross-modal layers are built from ``text_config`` (``BridgeTowerModel.__init__``) and read
    ``hidden_size``-wide states, so the text width must equal ``hidden_size``. The vision tower is
    CLIP's, with ``hidden_size // 64`` heads, so it is at least 64 wide (one head), and
    ``cross_modal_image_transform`` projects it to 16; its blocks (12 x 64^2 weights each) are most
    of the fixture's bytes, hence two layers and a 16-wide text side."""
    vocab = len(vocabulary()[0])
    return BridgeTowerConfig(
        text_config={"vocab_size": vocab, "hidden_size": 16, "num_hidden_layers": layers, "num_attention_heads": 2,
                     "intermediate_size": 32, "max_position_embeddings": 64, "initializer_factor": TINY_INIT_FACTOR},
        vision_config={"hidden_size": 64, "num_hidden_layers": layers, "image_size": image_size,
                       "patch_size": patch_size, "initializer_factor": 1},
        hidden_size=16, num_attention_heads=2, num_hidden_layers=cross_layers, initializer_factor=TINY_INIT_FACTOR,
    )


def vocabulary() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """RoBERTa-style ``vocab.json`` and ``merges.txt`` contents: each word of ``WORDS`` is spelled
    by merges left to right, after a space (``Ġword``, whose merges rank first, so that a word after
    a space becomes one token) and at the start of a text."""
    vocab = {token: i for i, token in enumerate(SPECIAL)}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    merges = []
    for spelled in [SPACE + w for w in WORDS] + WORDS:
        left = spelled[0]
        for char in spelled[1:]:
            if (left, char) not in merges:
                merges.append((left, char))
            left += char
            vocab.setdefault(left, len(vocab))
    vocab["<mask>"] = len(vocab)
    return vocab, merges


def write_checkpoint(out: Path, config: BridgeTowerConfig, seed: int = 0, size_divisor: int | None = None,
                     safetensors: bool = True, tokenizer_json: bool = True) -> Path:
    """The model (``model.safetensors``, or ``pytorch_model.bin`` if not ``safetensors``),
    ``vocab.json`` + ``merges.txt`` (+ ``tokenizer.json`` unless ``tokenizer_json`` is false, as
    older checkpoints have it) and ``preprocessor_config.json``: shortest edge and crop the vision
    model's image size, ``size_divisor`` (default the processor's, 32), the rest BridgeTower's
    defaults."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = BridgeTowerForImageAndTextRetrieval(config).eval()
    model.config.architectures = ["BridgeTowerForImageAndTextRetrieval"]
    model.save_pretrained(out)
    if not safetensors:  # the older layout: a pickled state dict
        weights = out / "model.safetensors"
        torch.save(load_file(str(weights)), out / "pytorch_model.bin")
        weights.unlink()
    vocab, merges = vocabulary()
    tokenizer = RobertaTokenizerFast(vocab=vocab, merges=merges)
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(out)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    if not tokenizer_json:
        (out / "tokenizer.json").unlink()
    size = config.vision_config.image_size
    divisor = {} if size_divisor is None else {"size_divisor": size_divisor}
    BridgeTowerImageProcessorPil(size={"shortest_edge": size}, crop_size={"shortest_edge": size},
                                 **divisor).save_pretrained(out)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="Write a random-weight BridgeTower retrieval checkpoint directory.")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tiny", action="store_true", help="the tests' tiny config instead of BridgeTowerConfig() defaults")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.tiny:
        write_checkpoint(args.out, tiny_config(), args.seed, size_divisor=TINY_SIZE_DIVISOR)
    else:
        write_checkpoint(args.out, BridgeTowerConfig(), args.seed)
    print(args.out)


if __name__ == "__main__":
    main()
