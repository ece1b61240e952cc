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

import sys
from pathlib import Path

import torch
from transformers import BlipConfig, BlipForImageTextRetrieval, BlipImageProcessorPil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from encoder/training
from tools.hf_random_checkpoint import (BERT_BASE_VOCAB, arguments, pickle_weights, save_model,  # noqa: E402
                                        wordpiece_vocabulary, write_wordpiece_tokenizer)

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
    # Full size: BERT-base's, so that [DEC] and [ENC] land on 30522 and 30523 as in BLIP's.
    return wordpiece_vocabulary(WORDS, None if tiny else BERT_BASE_VOCAB)


def write_checkpoint(out: Path, config: BlipConfig, seed: int = 0, safetensors: bool = True, tiny: bool = True) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    save_model(BlipForImageTextRetrieval(config).eval(), out)
    if not safetensors:
        pickle_weights(out)
    write_wordpiece_tokenizer(out, _vocabulary(tiny), 512, BLIP_ADDED)
    size = config.vision_config.image_size
    BlipImageProcessorPil(size={"height": size, "width": size}).save_pretrained(out)
    return out


def main(argv=None):
    args = arguments("BLIP", "BlipConfig").parse_args(argv)
    config = tiny_config() if args.tiny else BlipConfig()
    write_checkpoint(args.out, config, args.seed, tiny=args.tiny)
    print(args.out)


if __name__ == "__main__":
    main()
