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

import sys
from pathlib import Path

import torch
from transformers import ViltConfig, ViltForImageAndTextRetrieval, ViltImageProcessorPil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from encoder/training
from tools.hf_random_checkpoint import (BERT_BASE_VOCAB, arguments, pickle_weights, save_model,  # noqa: E402
                                        wordpiece_vocabulary, write_wordpiece_tokenizer)

WORDS = ["a", "an", "the", "two", "red", "blue", "green", "circle", "square", "star", "dog", "cat", "on", "of",
         "left", "right", "small", "large", "photo", "man", "riding", "horse", "cafe", "naive", "and", "at",
         "##s", "##ing", "##ed", ",", "."]
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
    return wordpiece_vocabulary(WORDS, None if tiny else BERT_BASE_VOCAB)


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
    save_model(model, out)
    if not safetensors:
        pickle_weights(out)
    write_wordpiece_tokenizer(out, vocabulary(tiny), VILT_MAX_TEXT_LEN)
    edge = shortest_edge or (TINY_SHORTEST_EDGE if tiny else 384)
    ViltImageProcessorPil(size={"shortest_edge": edge}, size_divisor=32).save_pretrained(out)
    return out


def main(argv=None):
    args = arguments("ViLT", "ViltConfig").parse_args(argv)
    config = tiny_config() if args.tiny else ViltConfig()
    write_checkpoint(args.out, config, args.seed, tiny=args.tiny)
    print(args.out)


if __name__ == "__main__":
    main()
