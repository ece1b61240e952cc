"""Write a random-weight ``BridgeTowerForImageAndTextRetrieval`` checkpoint directory laid out as a
published one is (``save_pretrained`` of the model, a RoBERTa byte-level BPE tokenizer and a
``BridgeTowerImageProcessor`` config): what the importer's tests and its full-size cost
measurement read, since no checkpoint can be downloaded here.

    python tools/random_bridgetower_checkpoint.py --out /tmp/bt-base          # BridgeTowerConfig() defaults, 288 px
    python tools/random_bridgetower_checkpoint.py --out /tmp/bt-tiny --tiny   # the Java fixture's tiny shape
    python tools/random_bridgetower_checkpoint.py --out /tmp/bt-itc --itc     # with ITC heads, as -itm-mlm-itc

``--itc`` writes the layout of ``BridgeTower/bridgetower-large-itm-mlm-itc``, pretrained with ITC,
ITM and MLM and described by its model card as usable with ``BridgeTowerForContrastiveLearning``,
``BridgeTowerForImageAndTextRetrieval`` and ``BridgeTowerForMaskedLM``: ``architectures``
``["BridgeTowerForContrastiveLearning"]`` (what ``save_pretrained`` of that class writes, and what
the copies saved from that checkpoint carry), ``contrastive_hidden_size`` and
``logit_scale_init_value`` in the config (512 and 2.6592 there), and one weight file holding the
contrastive model's state (``bridgetower.*``, ``itc_text_head``, ``itc_image_head``,
``itc_cross_modal_head``, ``logit_scale``) beside the ITM head ``itm_score`` and the MLM head
``mlm_score`` (its decoder a copy of the word embeddings, which ``BridgeTowerForMaskedLM`` ties).

The tokenizer is built offline and deterministically: the 256 byte-level symbols, merges that
spell a fixed word list (with and without the leading-space marker ``Ġ``) and RoBERTa's special
tokens at RoBERTa's ids (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, ``<mask>`` last). Its ids
mean nothing; only the shapes and the code paths are real. The full-size model keeps RoBERTa's
50,265-row embedding table, of which the small vocabulary uses the first rows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import pre_tokenizers
from transformers import (BridgeTowerConfig, BridgeTowerForContrastiveLearning, BridgeTowerForImageAndTextRetrieval,
                          BridgeTowerImageProcessorPil, RobertaTokenizerFast)
from transformers.models.bridgetower.modeling_bridgetower import BridgeTowerITMHead, BridgeTowerMLMHead

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from encoder/training
from tools.hf_random_checkpoint import arguments, pickle_weights, save_model  # noqa: E402

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
# bridgetower-large-itm-mlm-itc's config: the ITC vectors' width and the initial logit scale, log(1 / 0.07).
ITC_CONTRASTIVE_SIZE, ITC_LOGIT_SCALE = 512, 2.6592
# The tiny ITC checkpoint's vectors: 32 wide keeps its Java fixture small.
TINY_CONTRASTIVE_SIZE = 32
# The tiny ITC checkpoint's width, text, cross-modal and ViT alike. BridgeTowerForContrastiveLearning.forward
# adds the hidden_size-wide image token type embedding, expanded to the ViT state's shape, so it only
# runs where the ViT is hidden_size wide (as in every published model); the ViT is at least 64 wide
# (one head of 64).
TINY_ITC_WIDTH = 64


def itc_config(config: BridgeTowerConfig, contrastive_hidden_size: int = ITC_CONTRASTIVE_SIZE) -> BridgeTowerConfig:
    """``config`` with the two fields ``BridgeTowerForContrastiveLearning`` reads, which
    ``BridgeTowerConfig`` does not declare (they ride along as extra attributes, as in the published
    config.json)."""
    config.contrastive_hidden_size = contrastive_hidden_size
    config.logit_scale_init_value = ITC_LOGIT_SCALE
    return config


def tiny_config(image_size: int = 32, patch_size: int = 8, layers: int = 2, cross_layers: int = 2,
                width: int = 16, intermediate_size: int = 32, init_factor: float = TINY_INIT_FACTOR) -> BridgeTowerConfig:
    """``layers`` uni-modal layers a side, the top ``cross_layers`` of them linked to as many
    cross-modal layers, ``width`` (16) wide with an FFN ``intermediate_size`` (32) wide: a whole
    import and its checks take seconds, and the committed fixture stays under 1 MB.

    The cross-modal layers are built from ``text_config`` (``BridgeTowerModel.__init__``) and read
    ``hidden_size``-wide states, so the text width must equal ``hidden_size``. The vision tower is
    CLIP's, with ``hidden_size // 64`` heads, so it is at least 64 wide (one head), and
    ``cross_modal_image_transform`` projects it to 16; its blocks (12 x 64^2 weights each) are most
    of the fixture's bytes, hence two layers and a 16-wide text side."""
    vocab = len(vocabulary()[0])
    return BridgeTowerConfig(
        text_config={"vocab_size": vocab, "hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": 2,
                     "intermediate_size": intermediate_size, "max_position_embeddings": 64,
                     "initializer_factor": init_factor},
        vision_config={"hidden_size": 64, "num_hidden_layers": layers, "image_size": image_size,
                       "patch_size": patch_size, "initializer_factor": 1},
        hidden_size=width, num_attention_heads=2, num_hidden_layers=cross_layers, initializer_factor=init_factor,
    )


def tiny_itc_config(layers: int = 1, cross_layers: int = 1, intermediate_size: int = 32, **kwargs) -> BridgeTowerConfig:
    """``tiny_config`` with ITC heads, ``TINY_ITC_WIDTH`` wide everywhere (the contrastive forward
    needs the ViT as wide as ``hidden_size``) and by default one uni-modal layer a side linked to one
    cross-modal layer: at 64 wide a second layer of each would take the Java fixture well past 1 MB
    (the tests' own checkpoints link two)."""
    config = tiny_config(layers=layers, cross_layers=cross_layers, width=TINY_ITC_WIDTH,
                         intermediate_size=intermediate_size, **kwargs)
    return itc_config(config, TINY_CONTRASTIVE_SIZE)


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
                     safetensors: bool = True, tokenizer_json: bool = True, itc: bool = False) -> Path:
    """The model (``model.safetensors``, or ``pytorch_model.bin`` if not ``safetensors``),
    ``vocab.json`` + ``merges.txt`` (+ ``tokenizer.json`` unless ``tokenizer_json`` is false, as
    older checkpoints have it) and ``preprocessor_config.json``: shortest edge and crop the vision
    model's image size, ``size_divisor`` (default the processor's, 32), the rest BridgeTower's
    defaults. ``itc``: the -itm-mlm-itc layout (module docstring); ``config`` must then carry
    ``contrastive_hidden_size`` and ``logit_scale_init_value`` (``itc_config``)."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if itc:
        _write_itc_model(out, config)
    else:
        save_model(BridgeTowerForImageAndTextRetrieval(config).eval(), out)
    if not safetensors:
        pickle_weights(out)
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


def _write_itc_model(out: Path, config: BridgeTowerConfig) -> None:
    """``BridgeTowerForContrastiveLearning``'s ``save_pretrained``, then the ITM and MLM heads added
    to its weight file, initialised as those models' ``post_init`` does (std 0.05 x
    initializer_factor, zero biases)."""
    model = BridgeTowerForContrastiveLearning(config).eval()
    save_model(model, out)
    heads = {"itm_score": BridgeTowerITMHead(config.hidden_size * 2), "mlm_score": BridgeTowerMLMHead(config)}
    weights_file = out / "model.safetensors"
    weights = load_file(str(weights_file))
    for prefix, head in heads.items():
        head.apply(model._init_weights)
        if prefix == "mlm_score":
            head.decoder.weight = torch.nn.Parameter(model.bridgetower.text_model.embeddings.word_embeddings.weight.clone())
        weights.update({f"{prefix}.{k}": v.detach().contiguous() for k, v in head.state_dict().items()})
    save_file(weights, str(weights_file), metadata={"format": "pt"})


def main(argv=None):
    p = arguments("BridgeTower", "BridgeTowerConfig")
    p.add_argument("--itc", action="store_true",
                   help="with ITC heads beside the ITM one, laid out as BridgeTower/bridgetower-large-itm-mlm-itc "
                        f"(--tiny: tiny_itc_config(), {TINY_ITC_WIDTH} wide with {TINY_CONTRASTIVE_SIZE}-wide "
                        f"vectors; else BridgeTowerConfig() with {ITC_CONTRASTIVE_SIZE}-wide vectors)")
    args = p.parse_args(argv)
    if args.itc:
        config = tiny_itc_config() if args.tiny else itc_config(BridgeTowerConfig())
    else:
        config = tiny_config() if args.tiny else BridgeTowerConfig()
    divisor = TINY_SIZE_DIVISOR if args.tiny else None
    write_checkpoint(args.out, config, args.seed, size_divisor=divisor, itc=args.itc)
    print(args.out)


if __name__ == "__main__":
    main()
