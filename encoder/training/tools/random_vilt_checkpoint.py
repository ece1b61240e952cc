"""Write a random-weight ``ViltForImageAndTextRetrieval`` checkpoint directory laid out as a published
one is (``save_pretrained`` of the model, a ``BertTokenizerFast`` and a ``ViltImageProcessor``):
what the ViLT importer's tests and its full-size cost measurement read, since no checkpoint can
be downloaded here.

    python tools/random_vilt_checkpoint.py --out /tmp/vilt-base            # ViltConfig() defaults: ViLT-B/32, 384 px
    python tools/random_vilt_checkpoint.py --out /tmp/vilt-tiny --tiny     # the tests' tiny shape

The vocabulary is generated (the full-size one padded with ``[unused...]`` word pieces to
bert-base-uncased's 30,522), so its ids mean nothing; only the shapes and the code paths are real.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import BertTokenizerFast, ViltConfig, ViltForImageAndTextRetrieval, ViltImageProcessorPil

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["a", "an", "the", "two", "red", "blue", "green", "circle", "square", "star", "dog", "cat", "on", "of",
         "left", "right", "small", "large", "photo", "man", "riding", "horse", "cafe", "naive", "and", "at",
         "##s", "##ing", "##ed", ",", "."]
BERT_BASE_VOCAB = 30522
# ViLT's text length (its max_text_len, the published config's max_position_embeddings and the
# published tokenizer's model_max_length).
VILT_MAX_TEXT_LEN = 40

# Weights drawn with this standard deviation. At ViltConfig's 0.02 (and with the class token, the
# position table and the biases starting at zero) every image would score almost alike; at 0.2
# retrieval logits differ by tenths between images and between captions, so a test can check a
# ranking, and a wrong position interpolation or patch order shows.
TINY_INIT_STD = 0.2
# The tiny processor's shortest edge: the longest is int(1333 / 800 * 64) = 106, so with
# size_divisor 32 images come out 64 x 64 or 64 x 96 (32 x 96 at extreme aspect ratios).
TINY_SHORTEST_EDGE = 64


def tiny_config(image_size: int = 64, patch_size: int = 16, max_image_length: int = -1) -> ViltConfig:
    """Two layers, width 32, 4 heads, a 4 x 4 position grid: a whole import and its checks take seconds."""
    return ViltConfig(vocab_size=len(vocabulary(tiny=True)), hidden_size=32, num_hidden_layers=2,
                      num_attention_heads=4, intermediate_size=64, image_size=image_size, patch_size=patch_size,
                      max_position_embeddings=VILT_MAX_TEXT_LEN, initializer_range=TINY_INIT_STD,
                      max_image_length=max_image_length, pad_token_id=0)


def vocabulary(tiny: bool) -> list[str]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = list(dict.fromkeys(SPECIAL + WORDS + letters + [f"##{c}" for c in letters]))
    if not tiny:
        vocab += [f"[unused{i}]" for i in range(BERT_BASE_VOCAB - len(vocab))]
    return vocab


@torch.no_grad()
def _randomize(model: ViltForImageAndTextRetrieval, std: float) -> None:
    """What the initializer leaves constant drawn at random too: the class token, the position
    table, the biases and the LayerNorm gains, so that every parameter matters to a parity test."""
    for name, param in model.named_parameters():
        if "layernorm" in name.lower() and name.endswith(".weight"):
            param.copy_(1 + 0.1 * torch.randn_like(param))
        elif name.endswith("bias") or name.endswith("cls_token") or name.endswith("embeddings.position_embeddings"):
            param.copy_(std * torch.randn_like(param))


def write_checkpoint(out: Path, config: ViltConfig, seed: int = 0, safetensors: bool = True, tiny: bool = True,
                     shortest_edge: int | None = None) -> Path:
    """``shortest_edge``: the processor's (default: 64 for a tiny config, ViLT's 384 otherwise)."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = ViltForImageAndTextRetrieval(config).eval()
    _randomize(model, config.initializer_range)
    model.config.architectures = ["ViltForImageAndTextRetrieval"]
    model.save_pretrained(out)
    if not safetensors:  # the older layout: a pickled state dict
        weights = out / "model.safetensors"
        torch.save(load_file(str(weights)), out / "pytorch_model.bin")
        weights.unlink()
    vocab = vocabulary(tiny)
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    tokenizer.model_max_length = VILT_MAX_TEXT_LEN
    tokenizer.save_pretrained(out)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")  # published checkpoints carry both
    edge = shortest_edge or (TINY_SHORTEST_EDGE if tiny else 384)
    ViltImageProcessorPil(size={"shortest_edge": edge}, size_divisor=32).save_pretrained(out)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="Write a random-weight ViLT retrieval checkpoint directory.")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tiny", action="store_true", help="the tests' tiny config instead of ViltConfig() defaults")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    config = tiny_config() if args.tiny else ViltConfig()
    write_checkpoint(args.out, config, args.seed, tiny=args.tiny)
    print(args.out)


if __name__ == "__main__":
    main()
