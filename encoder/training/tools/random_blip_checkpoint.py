"""Write a random-weight ``BlipForImageTextRetrieval`` checkpoint directory laid out as a published
one is (``save_pretrained`` of the model, a ``BertTokenizerFast`` and a ``BlipImageProcessor``):
what the importer's tests and its full-size cost measurement read, since no checkpoint can be
downloaded here.

    python tools/random_blip_checkpoint.py --out /tmp/blip-base            # BlipConfig() defaults, 384 px
    python tools/random_blip_checkpoint.py --out /tmp/blip-tiny --tiny     # the tests' tiny shape

The full-size vocabulary is generated (``[unused...]`` word pieces), so its ids mean nothing;
only the shapes and the code paths are real.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import BertTokenizerFast, BlipConfig, BlipForImageTextRetrieval, BlipImageProcessorPil

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["a", "an", "the", "red", "blue", "green", "circle", "square", "star", "dog", "cat", "on", "of", "left",
         "right", "small", "large", "photo", "man", "riding", "horse", "cafe", "naive", "##s", "##ing", "##ed", ","]
# BLIP's tokenizer adds these two after BERT's vocabulary (BLIP's init_tokenizer): the decoder's
# bos token and the image-grounded encoder's [ENC].
BLIP_ADDED = {"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]}


# Weights drawn with this standard deviation on both sides. BLIP's own vision default (1e-10) gives
# every image the same features, so scores would not depend on the image; at 0.2 ITM logits differ
# by tenths between images and between captions, so a test can check a ranking, not just ties.
TINY_INIT_STD = 0.2


def tiny_config(image_size: int = 32, patch_size: int = 8) -> BlipConfig:
    """Two layers a side, width 32: a whole import and its checks take seconds."""
    vocab = len(_vocabulary(tiny=True)) + 2
    return BlipConfig(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "image_size": image_size, "patch_size": patch_size, "initializer_range": TINY_INIT_STD},
        text_config={"vocab_size": vocab, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "max_position_embeddings": 64, "bos_token_id": vocab - 2,
                     "sep_token_id": 3, "pad_token_id": 0, "initializer_range": TINY_INIT_STD},
        image_text_hidden_size=16,
        initializer_range=TINY_INIT_STD,
    )


def _vocabulary(tiny: bool) -> list[str]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = list(dict.fromkeys(SPECIAL + WORDS + letters + [f"##{c}" for c in letters]))
    if not tiny:  # BERT-base's size, so that [DEC] and [ENC] land on 30522 and 30523 as in BLIP's
        vocab += [f"[unused{i}]" for i in range(30522 - len(vocab))]
    return vocab


def write_checkpoint(out: Path, config: BlipConfig, seed: int = 0, safetensors: bool = True, tiny: bool = True) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = BlipForImageTextRetrieval(config).eval()
    model.config.architectures = ["BlipForImageTextRetrieval"]
    model.save_pretrained(out)
    if not safetensors:  # the older layout: a pickled state dict
        weights = out / "model.safetensors"
        torch.save(load_file(str(weights)), out / "pytorch_model.bin")
        weights.unlink()
    vocab = _vocabulary(tiny)
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    tokenizer.add_special_tokens(BLIP_ADDED)
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(out)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")  # published checkpoints carry both
    size = config.vision_config.image_size
    BlipImageProcessorPil(size={"height": size, "width": size}).save_pretrained(out)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="Write a random-weight BLIP retrieval checkpoint directory.")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tiny", action="store_true", help="the tests' tiny config instead of BlipConfig() defaults")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    config = tiny_config() if args.tiny else BlipConfig()
    write_checkpoint(args.out, config, args.seed, tiny=args.tiny)
    print(args.out)


if __name__ == "__main__":
    main()
