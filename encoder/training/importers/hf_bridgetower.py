"""Hugging Face ``BridgeTowerForImageAndTextRetrieval`` checkpoints (BridgeTower, Xu et al. 2023) ->
fuserank bundle.

BridgeTower runs a text tower (RoBERTa) and an image tower (CLIP's ViT) side by side and feeds
the outputs of their top ``L`` layers (``L = config.num_hidden_layers``, 6 in the published
models) into the ``L`` layers of a cross-modal encoder, one uni-modal layer per cross-modal
layer, through "bridge" (link tower) layers. The cross-modal encoder has two stacks, a text one
(self-attention over text, cross-attention to the image) and an image one (self-attention over
the image, cross-attention to the text), each reading the other's previous layer. So nothing
after the split depends on one modality alone, and what a document can store is the uni-modal
states that each cross-modal layer receives, ``L`` layers of them:

* image encoder: ``token_features [batch, L x T, W]`` layer-major, ``T = 1 + patches``: layer 0 is
  ``cross_modal_image_layernorm(cross_modal_image_transform(ln_post(x)) + image token type)`` of
  the ViT state ``x`` at the split, layer ``l >= 1`` is ``cross_modal_image_transform(ln_post(x_l))
  + image token type`` of the next ViT layers (what image link tower ``l - 1`` receives);
* text encoder: the same for the text tower (``cross_modal_text_layernorm`` at layer 0, the text
  token type, ``cross_modal_text_transform``), ``[batch, L x tokens, W]``;
* fusion: both cross-modal stacks, the link towers, the two poolers and ``itm_score`` on their
  concatenation, giving ``[no_match, match]``.

Everything is computed by the model's own modules, in the order ``BridgeTowerModel.forward`` runs
them; the reference outputs come from ``BridgeTowerForImageAndTextRetrieval.forward`` itself. The
retrieval model has no ITC head, so the bundle has no embedding: its first stage must come from
another bundle, and the score is the ITM match logit (``rerank.score_mode`` ``itm``).

Checkpoints with ITC heads. Some weight files (``BridgeTower/bridgetower-large-itm-mlm-itc``, saved
as ``BridgeTowerForContrastiveLearning``) hold ``itc_text_head``, ``itc_image_head``,
``itc_cross_modal_head`` and ``logit_scale`` beside ``itm_score`` (and an MLM head,
``mlm_score``). Which class loads what: ``BridgeTowerForImageAndTextRetrieval`` loads the
checkpoint for the token features and the ITM, and may leave unused only those ITC keys and the
MLM head's; ``BridgeTowerForContrastiveLearning`` then loads the same files for the ITC heads and
the reference vectors, and may leave unused only the ITM and MLM heads. Any other key, missing or
unused or of the wrong shape, is refused by name. ITC heads without ``itm_score`` are refused:
the bundle would have nothing to rerank with. Such a bundle has an ITC embedding: both encoder
graphs also output ``embedding``, the uni-modal vectors ``BridgeTowerForContrastiveLearning.forward``
computes, ``normalize(itc_text_head(t[:, 0]))`` of the last text layer's state ``t`` and
``normalize(itc_image_head((cross_modal_image_transform(ln_post(x)) + image token type)[:, 0]))`` of
the last ViT state ``x`` it runs; documents store them too, and the first stage can search them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import transformers
from PIL import Image
from torch import nn
from torch.nn.functional import normalize
from transformers.models.bridgetower.modeling_bridgetower import BridgeTowerMLMHead

from bundle_io import BUNDLE_FORMAT, OPSET, export_graph, file_entries
from feature_codec import CODECS, bytes_per_item
from fusion_contract import fusion_section
from importers import CheckpointError, hf_checkpoint
from importers.hf_checkpoint import (PIL_BICUBIC, REFERENCE_CAPTIONS, WEIGHT_FILES, ModelGraph, check_steps,
                                     check_vocabulary, export_inputs, load, load_processor, max_abs_diff,
                                     model_section, read_config, refuse_keys, required, session, start_bundle,
                                     text_section, tokenize, tokenizer_files, write_manifest)
from importers.reference_inputs import reference_images
from model import fusion_flops
from retrieval_eval import SCORE

ARCHITECTURE = "BridgeTowerForImageAndTextRetrieval"
# The class whose save_pretrained writes a checkpoint with ITC heads (bridgetower-large-itm-mlm-itc).
ITC_ARCHITECTURE = "BridgeTowerForContrastiveLearning"
# Weight-name prefixes of each head a BridgeTower checkpoint may hold beside ``bridgetower.*``.
ITM_HEAD, MLM_HEAD = "itm_score", "mlm_score"
ITC_HEADS = ("itc_text_head", "itc_image_head", "itc_cross_modal_head", "logit_scale")
# BridgeTower's retrieval fine-tuning tokenizes captions to at most 40 tokens: max_text_len = 40 in
# task_finetune_irtr_f30k_clip_bert and task_finetune_irtr_coco_clip_bert (and their itm_itc
# variants) of src/config.py, github.com/microsoft/BridgeTower at b6eb9bd. The Hugging Face
# checkpoints keep RoBERTa's 512 in their tokenizer config.
BRIDGETOWER_RETRIEVAL_MAX_TOKENS = 40
# BridgeTower's retrieval evaluation with ITC (compute_irtr_itm_itc_recall, src/modules/objectives.py at
# b6eb9bd): the ITC top k_test, 128 for Flickr30K and 256 for COCO (task_finetune_irtr_itm_itc_* in
# src/config.py), ranked by the ITM match logit itm_score(...)[:, 1] alone.
ITC_CHOSEN_BY = ("BridgeTower's own retrieval evaluation with ITC (compute_irtr_itm_itc_recall in src/modules/"
                 "objectives.py, github.com/microsoft/BridgeTower at b6eb9bd) takes the ITC top k_test (128 "
                 "Flickr30K, 256 COCO) and ranks them by the ITM match logit itm_score[:, 1] alone: score_mode "
                 "itm over this bundle's own ITC first stage. itc_weight 1 (BLIP's sum, not tuned on any split) "
                 "is only what a request that asks for itm_plus_itc gets")
# The same inputs, in the same order, as our own bundles' fusion graph (export.FUSION_INPUTS).
FUSION_INPUTS = {"text_features": "text.token_features", "text_mask": "text.attention_mask",
                 "image_features": "image.token_features", "image_mask": "image.token_mask"}
# BridgeTowerModel.forward: text tokens have token type 0, image tokens ``image_token_type_idx or 1``.
TEXT_TOKEN_TYPE, IMAGE_TOKEN_TYPE = 0, 1
# BridgeTowerImageProcessor.resize: the longer side is bounded by int(1333 / 800 * shortest_edge).
LONGEST_EDGE_RATIO = 1333 / 800
# reference_inputs' fifth image is 2:1: wider than 1333:800, so at the processor's size_divisor
# its resized height falls below the crop and the centre crop zero-pads it (the others are cropped
# or fit exactly).
REFERENCE_IMAGES = 5


@dataclass
class Checkpoint(hf_checkpoint.Checkpoint):
    """``model`` is the ``BridgeTowerForImageAndTextRetrieval``; ``itc_model`` the
    ``BridgeTowerForContrastiveLearning`` from the same files, where they hold ITC heads, else None."""
    itc_model: nn.Module | None = None


def split_index(bt) -> int:
    """How many uni-modal layers run before the first cross-modal layer (``BridgeTowerModel.forward``'s
    ``split_index``): the state after them feeds cross-modal layer 0, and each later uni-modal layer
    feeds one more cross-modal layer."""
    return len(bt.text_model.encoder.layer) - bt.config.num_hidden_layers + 1


def additive_mask(mask: torch.Tensor) -> torch.Tensor:
    """``[batch, keys]`` 1/0 -> ``[batch, 1, 1, keys]`` 0/float32 min: what ``create_bidirectional_mask``
    builds for eager attention from ``BridgeTowerModel.forward``'s text mask (with a query length of
    1, broadcast over the queries). Where every key is 1 the forward builds no mask at all, which
    adds the same zeros."""
    return torch.where(mask[:, None, None, :].bool(), torch.tensor(0.0), torch.tensor(torch.finfo(torch.float32).min))


def image_token_features(bt, pixels: torch.Tensor) -> torch.Tensor:
    """pixels -> ``[batch, L x T, W]``: what each cross-modal image layer receives from the image
    tower, as ``BridgeTowerModel.forward`` computes it (``bt`` is the ``BridgeTowerModel``)."""
    return image_tower(bt, pixels)[0]


def image_tower(bt, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``image_token_features`` and the last ViT state the forward runs (its ``hidden_states[1][-1]``,
    sequence first), which the ITC image vector reads."""
    visual, split = bt.vision_model.visual, split_index(bt)
    hidden = visual.forward_pre(pixels.type(bt.vision_model.dtype))
    for block in visual.transformer.resblocks[:split]:
        hidden = block(hidden)
    token_type = bt.token_type_embeddings(torch.full((1,), IMAGE_TOKEN_TYPE, dtype=torch.long, device=pixels.device))
    layers = [bt.cross_modal_image_layernorm(bt._apply_image_transform(visual.forward_post(hidden), 0) + token_type)]
    for link, i in enumerate(range(split, len(bt.text_model.encoder.layer)), start=1):
        hidden = visual.transformer.resblocks[i](hidden).type(bt.vision_model.dtype)
        layers.append(bt._apply_image_transform(visual.forward_post(hidden), link) + token_type)
    return torch.cat(layers, dim=1), hidden


def text_token_features(bt, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """ids, mask -> ``[batch, L x tokens, W]``: what each cross-modal text layer receives from the
    text tower, as ``BridgeTowerModel.forward`` computes it."""
    return text_tower(bt, input_ids, attention_mask)[0]


def text_tower(bt, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``text_token_features`` and the last text layer's state (the forward's ``hidden_states[0][-1]``),
    which the ITC text vector reads."""
    text_layers, split = bt.text_model.encoder.layer, split_index(bt)
    hidden = bt.text_model.embeddings(input_ids=input_ids)
    mask = additive_mask(attention_mask)
    for layer in text_layers[:split]:
        hidden = layer(hidden, mask)
    token_type = bt.token_type_embeddings(torch.full((1,), TEXT_TOKEN_TYPE, dtype=torch.long, device=input_ids.device))
    layers = [bt.cross_modal_text_layernorm(bt._apply_text_transform(hidden, 0) + token_type)]
    for link, i in enumerate(range(split, len(text_layers)), start=1):
        hidden = text_layers[i](hidden, mask)
        layers.append(bt._apply_text_transform(hidden, link) + token_type)
    return torch.cat(layers, dim=1), hidden


def itc_image_embedding(bt, head: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The last ViT state -> ``[batch, D]``: ``BridgeTowerForContrastiveLearning.forward``'s
    ``image_embeds``, ``normalize(itc_image_head((cross_modal_image_transform(ln_post(x)) + image
    token type)[:, 0]))``. The transform and the token type apply row by row, so only the [CLS] row is
    transformed; the forward calls ``cross_modal_image_transform`` directly, which is one Linear only
    with ``share_cross_modal_transformer_layers`` (checked on import)."""
    cls = bt.vision_model.visual.forward_post(hidden)[:, 0]
    token_type = bt.token_type_embeddings(torch.full((1,), IMAGE_TOKEN_TYPE, dtype=torch.long, device=cls.device))
    return normalize(head(bt.cross_modal_image_transform(cls) + token_type), dim=-1, p=2)


def itc_text_embedding(head: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The last text layer's state -> ``[batch, D]``: the forward's ``text_embeds``,
    ``normalize(itc_text_head(t[:, 0]))``."""
    return normalize(head(hidden[:, 0]), dim=-1, p=2)


def itm_logits(model, text_features, text_mask, image_features, image_mask) -> torch.Tensor:
    """The cross-modal encoder from the stored layers on: ``BridgeTowerModel.forward`` from its
    first cross-modal layer, then ``BridgeTowerForImageAndTextRetrieval``'s ``itm_score`` on the
    pooled [CLS] of both stacks. ``image_mask`` replaces the forward's all-ones pixel mask (0 marks
    batch padding)."""
    bt = model.bridgetower
    n = bt.config.num_hidden_layers
    batch, width = text_features.shape[0], text_features.shape[2]
    text = text_features.reshape(batch, n, -1, width)
    image = image_features.reshape(batch, n, -1, width)
    text_mask, image_mask = additive_mask(text_mask), additive_mask(image_mask)

    def layer(index, text_in, image_in):
        text_out = bt.cross_modal_text_layers[index](text_in, image_in, attention_mask=text_mask,
                                                     encoder_attention_mask=image_mask)
        image_out = bt.cross_modal_image_layers[index](image_in, text_in, attention_mask=image_mask,
                                                       encoder_attention_mask=text_mask)
        return text_out[0], image_out[0]

    cross_text, cross_image = layer(0, text[:, 0], image[:, 0])
    for link in range(n - 1):
        text_in = bt.cross_modal_text_link_tower[link](text[:, link + 1], cross_text, text_mask)
        image_in = bt.cross_modal_image_link_tower[link](image[:, link + 1], cross_image, image_mask)
        cross_text, cross_image = layer(link + 1, text_in, image_in)
    return model.itm_score(bt.get_cls_features(cross_text, cross_image))


class _Graph(ModelGraph):
    """A graph over the retrieval model. ``itc_head``: the encoder's ITC head (of
    ``BridgeTowerForContrastiveLearning``), where the checkpoint has one; the graph then outputs
    ``(embedding, token_features)``."""

    def __init__(self, model, itc_head: nn.Module | None = None):
        super().__init__(model)
        self.itc_head = itc_head


class ImageGraph(_Graph):
    def forward(self, pixels):
        bt = self.model.bridgetower
        features, hidden = image_tower(bt, pixels)
        if self.itc_head is None:
            return features
        return itc_image_embedding(bt, self.itc_head, hidden), features


class TextGraph(_Graph):
    def forward(self, input_ids, attention_mask):
        features, hidden = text_tower(self.model.bridgetower, input_ids, attention_mask)
        if self.itc_head is None:
            return features
        return itc_text_embedding(self.itc_head, hidden), features


class ItmGraph(_Graph):
    def forward(self, text_features, text_mask, image_features, image_mask):
        return itm_logits(self.model, text_features, text_mask, image_features, image_mask)


def read_checkpoint(directory: Path) -> Checkpoint:
    """Load model, tokenizer and image processor from local files only; every defect is a
    ``CheckpointError`` naming the file or field."""
    directory = Path(directory)
    config_file, config = read_config(directory, "bridgetower", [ARCHITECTURE, ITC_ARCHITECTURE],
                                      f"the BridgeTower importer reads [{ARCHITECTURE}] checkpoints, and "
                                      f"[{ITC_ARCHITECTURE}] ones that also hold the ITM head")
    architectures = config.get("architectures") or []
    weights = required(directory, WEIGHT_FILES)
    if (directory / "tokenizer.json").is_file():
        files = tokenizer_files(directory, [directory / "tokenizer.json"])
    elif (directory / "vocab.json").is_file() and (directory / "merges.txt").is_file():
        files = tokenizer_files(directory, [directory / "vocab.json", directory / "merges.txt"])
    else:
        raise CheckpointError(f"checkpoint directory [{directory}] has no [tokenizer.json], nor [vocab.json] "
                              f"with [merges.txt]")
    processor_file = required(directory, ("preprocessor_config.json",))

    try:
        parsed = transformers.BridgeTowerConfig.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        raise CheckpointError(f"[{config_file}] is not a BridgeTower config: {e}") from e
    _check_config(parsed, config_file)
    model, info = load(transformers.BridgeTowerForImageAndTextRetrieval, directory, weights)
    # The keys the retrieval model leaves unused that another BridgeTower head explains: the ITC heads
    # (loaded next, by the contrastive model) and the MLM head (which the bundle does not serve).
    mlm_keys = _mlm_keys(parsed)
    itc_keys = sorted(k for k in info.get("unexpected_keys") or [] if _head(k) in ITC_HEADS)
    missing = sorted(str(k) for k in info.get("missing_keys") or [])
    if itc_keys and missing and all(_head(k) == ITM_HEAD for k in missing):
        raise CheckpointError(f"[{weights}] holds ITC heads but no ITM head (missing keys {missing}): the bundle "
                              f"reranks with {ARCHITECTURE}'s itm_score, so there is nothing to rerank with")
    refuse_keys(weights, info, allowed_unused=set(itc_keys) | mlm_keys)
    if not itc_keys and ARCHITECTURE not in architectures:
        raise CheckpointError(f"[{config_file}] names {architectures} but [{weights}] holds none of its heads "
                              f"{list(ITC_HEADS)}")
    model.eval()
    vision_blocks = len(model.bridgetower.vision_model.visual.transformer.resblocks)
    text_layers = len(model.bridgetower.text_model.encoder.layer)
    if vision_blocks < text_layers:  # the forward runs vision block i beside text layer i
        raise CheckpointError(f"[{config_file}] vision_config builds {vision_blocks} ViT blocks, fewer than the "
                              f"{text_layers} text layers the forward runs them beside")
    itc_model = None
    if itc_keys:
        _check_itc_config(parsed, config_file)
        itc_model, itc_info = load(transformers.BridgeTowerForContrastiveLearning, directory, weights)
        itm_keys = {k for k in model.state_dict() if _head(k) == ITM_HEAD}
        refuse_keys(weights, itc_info, allowed_unused=itm_keys | mlm_keys, loaded_as=ITC_ARCHITECTURE)
        itc_model.eval()

    try:
        tokenizer = transformers.RobertaTokenizerFast.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"tokenizer [{files[0]}] could not be loaded as RoBERTa's: {e}") from e
    check_vocabulary(tokenizer, files[0], config_file, "text_config.vocab_size", model.config.text_config.vocab_size)
    for role in ("pad", "cls", "sep"):
        if getattr(tokenizer, f"{role}_token_id") is None:
            raise CheckpointError(f"tokenizer [{files[0]}] has no {role} token")

    # The PIL backend (load_processor): the torchvision one's centre crop would also pad an odd
    # difference on the other side.
    processor = load_processor(transformers.BridgeTowerImageProcessorPil, directory, processor_file)
    _check_processor(processor, processor_file, model.config.vision_config.image_size, config_file)
    return Checkpoint(directory, model, tokenizer, processor, [config_file, weights, *files, processor_file], itc_model)


def _head(key) -> str:
    """The head (or ``bridgetower``) a weight name belongs to: its first component."""
    return str(key).split(".", 1)[0]


def _mlm_keys(cfg) -> set[str]:
    """The weight names of ``BridgeTowerForMaskedLM``'s head, ``mlm_score.*`` (built on the meta
    device: only the names are needed)."""
    with torch.device("meta"):
        head = BridgeTowerMLMHead(cfg)
    return {f"{MLM_HEAD}.{k}" for k in head.state_dict()}


def _check_itc_config(cfg, config_file: Path) -> None:
    """What ``BridgeTowerForContrastiveLearning`` needs of the config, beyond ``_check_config``."""
    size = getattr(cfg, "contrastive_hidden_size", None)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise CheckpointError(f"[{config_file}] contrastive_hidden_size [{size}] must be a positive integer: the "
                              f"checkpoint holds ITC heads, which {ITC_ARCHITECTURE} builds that wide")
    scale = getattr(cfg, "logit_scale_init_value", None)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise CheckpointError(f"[{config_file}] logit_scale_init_value [{scale}] must be a number: "
                              f"{ITC_ARCHITECTURE} builds its logit_scale from it")
    if not cfg.share_cross_modal_transformer_layers:
        raise CheckpointError(f"[{config_file}] share_cross_modal_transformer_layers [false] is not supported with ITC "
                              f"heads: {ITC_ARCHITECTURE}.forward applies cross_modal_image_transform as one Linear")
    if cfg.vision_config.hidden_size != cfg.hidden_size:
        raise CheckpointError(f"[{config_file}] vision_config.hidden_size [{cfg.vision_config.hidden_size}] differs from "
                              f"hidden_size [{cfg.hidden_size}]: {ITC_ARCHITECTURE}.forward adds the hidden_size-wide "
                              f"image token type to a tensor of the ViT's shape, so it cannot run such a checkpoint")


def _check_config(cfg, config_file: Path) -> None:
    """What the forward (and so the bundle) needs of the config, checked before any weight loads."""
    text, vision = cfg.text_config, cfg.vision_config
    if cfg.hidden_size != text.hidden_size:
        raise CheckpointError(f"[{config_file}] hidden_size [{cfg.hidden_size}] differs from text_config.hidden_size "
                              f"[{text.hidden_size}]: the cross-modal layers are built from text_config and read "
                              f"hidden_size-wide states")
    if not 1 <= cfg.num_hidden_layers <= text.num_hidden_layers:
        raise CheckpointError(f"[{config_file}] num_hidden_layers [{cfg.num_hidden_layers}] cross-modal layers need "
                              f"as many of text_config's [{text.num_hidden_layers}] layers to link to")
    if cfg.share_link_tower_layers:
        raise CheckpointError(f"[{config_file}] share_link_tower_layers [true] is not supported: "
                              f"BridgeTowerModel.forward indexes one link tower per layer")
    if not isinstance(vision.image_size, int) or not isinstance(vision.patch_size, int):
        raise CheckpointError(f"[{config_file}] vision_config image_size [{vision.image_size}] and patch_size "
                              f"[{vision.patch_size}] must be integers (square images and patches)")


def _check_processor(processor, processor_file: Path, image_size: int, config_file: Path) -> None:
    """Refuse a preprocessor config the bundle's image rule cannot express. ``do_convert_rgb`` is
    not checked: unset (as published) the processor refuses RGBA, grey and palette images, set it
    applies PIL's ``convert("RGB")``; either way RGB images pass unchanged, and the bundle's
    ``alpha`` rule is ``convert("RGB")``, as BridgeTower's own transforms apply. ``do_pad`` pads a
    batch to its largest image, and every image is ``image_size`` square after the crop."""
    check_steps(processor, processor_file, {"do_resize": True, "do_center_crop": True, "do_rescale": True,
                                            "do_normalize": True, "resample": PIL_BICUBIC})
    shortest = processor.size.get("shortest_edge")
    if not isinstance(shortest, int) or shortest < 1:
        raise CheckpointError(f"[{processor_file}] size [{dict(processor.size)}] has no shortest_edge "
                              f"(BridgeTower's resize needs one)")
    crop = processor.crop_size.get("shortest_edge")
    if crop != image_size:
        raise CheckpointError(f"[{processor_file}] crop_size [{dict(processor.crop_size)}] is not a shortest_edge of "
                              f"the vision model's image_size [{image_size}] from [{config_file}]")
    divisor = processor.size_divisor
    if not isinstance(divisor, int) or divisor < 1:
        raise CheckpointError(f"[{processor_file}] size_divisor [{divisor}] must be a positive integer")
    for field in ("image_mean", "image_std"):
        values = getattr(processor, field)
        if values is None or len(values) != 3:
            raise CheckpointError(f"[{processor_file}] {field} [{values}] must have 3 values (R, G, B)")
    if not processor.rescale_factor or processor.rescale_factor <= 0:
        raise CheckpointError(f"[{processor_file}] rescale_factor [{processor.rescale_factor}] must be positive")


def max_tokens(checkpoint: Checkpoint) -> int:
    """BridgeTower's retrieval limit, within what the text model and the tokenizer allow. RoBERTa's
    positions start after the padding id (``create_position_ids_from_input_ids``: ``pad_token_id + 1``,
    i.e. 2), so ``max_position_embeddings - pad_token_id - 1`` tokens fit (512 of RoBERTa's 514)."""
    text = checkpoint.model.config.text_config
    return hf_checkpoint.max_tokens(checkpoint.tokenizer, BRIDGETOWER_RETRIEVAL_MAX_TOKENS,
                                    text.max_position_embeddings - text.pad_token_id - 1)


def feature_layers(checkpoint: Checkpoint) -> int:
    return checkpoint.model.config.num_hidden_layers


def image_tokens(checkpoint: Checkpoint) -> int:
    return checkpoint.model.bridgetower.vision_model.visual.embeddings.num_positions


def embedding_dim(checkpoint: Checkpoint) -> int | None:
    """The ITC vectors' width (``contrastive_hidden_size``); None without ITC heads."""
    return checkpoint.itc_model.config.contrastive_hidden_size if checkpoint.itc_model is not None else None


def graph_specs(checkpoint: Checkpoint) -> dict:
    """Names, dtypes and shapes of each graph's tensors (those of our own bundles; the embeddings
    only where the checkpoint has ITC heads); strings are dynamic axes."""
    cfg = checkpoint.model.config
    s, w = cfg.vision_config.image_size, cfg.hidden_size
    rows = feature_layers(checkpoint) * image_tokens(checkpoint)
    d = embedding_dim(checkpoint)
    embedding = [] if d is None else [{"name": "embedding", "dtype": "float32", "shape": ["batch", d]}]
    return {
        "image_encoder": {
            "inputs": [{"name": "pixels", "dtype": "float32", "shape": ["batch", 3, s, s]}],
            "outputs": embedding + [{"name": "token_features", "dtype": "float32", "shape": ["batch", rows, w]}],
        },
        "text_encoder": {
            "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "tokens"]},
                       {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "tokens"]}],
            "outputs": embedding + [{"name": "token_features", "dtype": "float32",
                                     "shape": ["batch", "layer_tokens", w]}],
        },
        "fusion_itm": {
            "inputs": [{"name": "text_features", "dtype": "float32", "shape": ["batch", "text_layer_tokens", w]},
                       {"name": "text_mask", "dtype": "int64", "shape": ["batch", "text_tokens"]},
                       {"name": "image_features", "dtype": "float32", "shape": ["batch", "image_layer_tokens", w]},
                       {"name": "image_mask", "dtype": "int64", "shape": ["batch", "image_tokens"]}],
            "outputs": [{"name": "itm_logits", "dtype": "float32", "shape": ["batch", 2]}],
        },
    }


def fusion_flops_per_pair(checkpoint: Checkpoint, text_tokens: int) -> int:
    """FLOPs (2 x multiply-adds of the matmuls, as ``model.fusion_flops`` counts) of the fusion graph
    for one pair of ``text_tokens`` text tokens and the image's ``T`` tokens.

    Every part of it runs per pair: from cross-modal layer 0 on, each stack reads the other.

    * text stack, ``L`` layers: self-attention over the text, cross-attention from the text to the
      image (keys and values projected from the ``T`` image rows), FFN: exactly what
      ``model.fusion_flops(W, F, L, text_tokens, T)`` counts per layer;
    * image stack, ``L`` layers: the same with the roles swapped,
      ``model.fusion_flops(W, F, L, T, text_tokens)`` (self-attention over the image rows,
      cross-attention to the text, FFN over ``T`` rows);
    * the head: each ``fusion_flops`` adds ``2 x 2W`` for a ``W -> 2`` head; BridgeTower's
      ``itm_score`` is ``2W -> 2``, ``2 x 4W``, which is the two of them together;
    * the two poolers (``W x W`` on one [CLS] row each): ``2 x 2 x W^2``;
    * the ``L - 1`` link towers a side are an addition and a LayerNorm (``link_tower_type`` add):
      no matmul, so, like the LayerNorms, softmaxes and activations everywhere, not counted.

    ``W`` is ``hidden_size`` and ``F`` ``text_config.intermediate_size`` (both stacks are built
    from ``text_config``)."""
    cfg = checkpoint.model.config
    w, f, n, t = cfg.hidden_size, cfg.text_config.intermediate_size, cfg.num_hidden_layers, image_tokens(checkpoint)
    return fusion_flops(w, f, n, text_tokens, t) + fusion_flops(w, f, n, t, text_tokens) + 2 * 2 * w * w


@torch.no_grad()
def write_reference(checkpoint: Checkpoint, bundle: Path, limit: int) -> dict:
    """Generated images and captions with the source's own outputs: pixels from
    ``BridgeTowerImageProcessorPil``, ids from the checkpoint's tokenizer, the token features from
    the model's modules, and the ITM logits of every image x caption from
    ``BridgeTowerForImageAndTextRetrieval.forward``; with ITC heads, the ITC vectors from
    ``BridgeTowerForContrastiveLearning.forward`` (its ``image_embeds`` and ``text_embeds``)."""
    model = checkpoint.model
    paths = reference_images(bundle / "reference" / "images", REFERENCE_IMAGES)
    pixels = checkpoint.processor([Image.open(p) for p in paths], return_tensors="pt")["pixel_values"].float()
    ids, mask = tokenize(checkpoint.tokenizer, REFERENCE_CAPTIONS, limit)
    image_features = image_token_features(model.bridgetower, pixels)
    text_features = text_token_features(model.bridgetower, ids, mask)
    n_img, n_txt = len(paths), len(REFERENCE_CAPTIONS)
    logits = model(input_ids=ids.repeat(n_img, 1), attention_mask=mask.repeat(n_img, 1),
                   pixel_values=pixels.repeat_interleave(n_txt, 0)).logits
    arrays = {"pixels": pixels, "input_ids": ids, "attention_mask": mask, "image_token_features": image_features,
              "text_token_features": text_features, "itm_logits": logits.view(n_img, n_txt, 2)}
    embedding = {}
    if checkpoint.itc_model is not None:
        arrays["image_embedding"], arrays["text_embedding"] = itc_reference(checkpoint.itc_model, pixels, ids, mask)
        embedding = {"embedding_source": f"transformers {transformers.__version__} {ITC_ARCHITECTURE}.forward: "
                                         f"image_embedding its image_embeds, text_embedding its text_embeds",
                     "embedding_layout": "[image or caption, contrastive_hidden_size], L2-normalised"}
    layers = feature_layers(checkpoint)
    return hf_checkpoint.write_reference(bundle, paths, arrays, checkpoint.tokenizer, limit, {
        "itm_logits_layout": "[image, caption, (no_match, match)]",
        "image_token_features_layout": f"[image, {layers} layers x {image_tokens(checkpoint)} tokens, width], "
                                       f"layer-major",
        "text_token_features_layout": f"[caption, {layers} layers x {ids.shape[1]} tokens, width], layer-major "
                                      f"(every caption padded to the longest)",
        "source": f"transformers {transformers.__version__} {ARCHITECTURE}.forward"}, about_after=embedding)


def itc_reference(itc_model, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor):
    """``BridgeTowerForContrastiveLearning.forward`` on image i % n_images beside caption
    i % n_captions, for i below the larger count: its ``image_embeds`` depend on the image alone and
    its ``text_embeds`` on the caption alone, so the first rows are every image's and every
    caption's vector."""
    n_img, n_txt = pixels.shape[0], ids.shape[0]
    rows = torch.arange(max(n_img, n_txt))
    out = itc_model(input_ids=ids[rows % n_txt], attention_mask=mask[rows % n_txt], pixel_values=pixels[rows % n_img])
    return out.image_embeds[:n_img], out.text_embeds[:n_txt]


def onnx_parity(bundle: Path, ref: dict, layers: int) -> dict:
    """The exported graphs in ONNX Runtime on the reference inputs: max abs diff vs the source's
    outputs (token features of both towers, ITM logits of every pair; with ITC heads, both
    embeddings and their dot products of every pair)."""
    ids, mask = ref["input_ids"].numpy(), ref["attention_mask"].numpy()
    *img_emb, img_feat = session(bundle, "image_encoder").run(None, {"pixels": ref["pixels"].numpy()})
    *txt_emb, txt_feat = session(bundle, "text_encoder").run(None, {"input_ids": ids, "attention_mask": mask})
    n_img, n_txt = img_feat.shape[0], txt_feat.shape[0]
    tokens = img_feat.shape[1] // layers
    (logits,) = session(bundle, "fusion_itm").run(None, {
        "text_features": np.tile(txt_feat, (n_img, 1, 1)), "text_mask": np.tile(mask, (n_img, 1)),
        "image_features": np.repeat(img_feat, n_txt, axis=0),
        "image_mask": np.ones((n_img * n_txt, tokens), dtype=np.int64)})
    diff = max_abs_diff
    parity = {}
    if img_emb:
        (img_emb,), (txt_emb,) = img_emb, txt_emb
        parity = {"image_embedding": diff(img_emb, ref["image_embedding"]),
                  "text_embedding": diff(txt_emb, ref["text_embedding"]),
                  "itc_similarity": diff(img_emb @ txt_emb.T, ref["image_embedding"] @ ref["text_embedding"].T)}
    return parity | {"image_token_features": diff(img_feat, ref["image_token_features"]),
                     "text_token_features": diff(txt_feat, ref["text_token_features"]),
                     "itm_logits": diff(logits.reshape(n_img, n_txt, 2), ref["itm_logits"])}


def image_section(processor, size: int) -> dict:
    """The manifest's image rule for a checked ``BridgeTowerImageProcessorPil`` cropping to ``size``,
    its steps in its order: convert to RGB; resize with PIL's bicubic to
    ``get_resize_output_image_size`` (the shorter side to ``shortest_edge``, the longer bounded by
    ``longest_edge``, both rounded half up and then floored to a multiple of ``size_divisor``);
    centre-crop to ``size`` x ``size``, padding with zeros (in 0..255, before the rescale) where the
    resized image is smaller (``image_transforms.center_crop``: ``ceil(difference / 2)`` rows or columns
    before the image, the rest after; where it is larger, ``floor(difference / 2)`` are cut before);
    rescale and normalise with ``mean`` and ``std``."""
    shortest = processor.size["shortest_edge"]
    return {"size": size, "resize": "pil_bicubic",
            "shortest_edge": shortest, "longest_edge": int(LONGEST_EDGE_RATIO * shortest),
            "size_divisor": processor.size_divisor, "center_crop": True,
            "rescale": float(processor.rescale_factor),
            "mean": [float(m) for m in processor.image_mean], "std": [float(v) for v in processor.image_std],
            "alpha": "pil_convert_rgb", "exif_orientation": False,
            "channel_order": "RGB", "layout": "NCHW", "processor": "BridgeTowerImageProcessorPil"}


def rerank_section(has_itc: bool) -> dict:
    """The manifest's ``rerank``: the ITM match logit alone either way (``ITC_CHOSEN_BY``); with ITC
    heads the first stage is this bundle's own embedding, and ``itc_weight`` 1 is stated."""
    if not has_itc:
        return {"score_mode": "itm",
                "first_stage": "another bundle's embedding: BridgeTowerForImageAndTextRetrieval has no ITC head",
                "chosen_by": "BridgeTowerForImageAndTextRetrieval.forward's documented use: scores[text] = "
                             "outputs.logits[0, 1], the ITM match logit (the model has no ITC to add)"}
    return {"score_mode": "itm", "itc_weight": 1.0,
            "first_stage": f"this bundle's embedding: the ITC vectors of {ITC_ARCHITECTURE}.forward (image_embeds, "
                           f"text_embeds), dot product",
            "chosen_by": ITC_CHOSEN_BY}


def import_bundle(source: Path, out: Path, name: str | None = None, codec: str = "int8") -> dict:
    """Read the checkpoint directory ``source``, write the bundle to ``out``; returns the manifest."""
    checkpoint, limit = start_bundle(source, out, codec, read_checkpoint, max_tokens)
    model = checkpoint.model
    cfg = model.config

    specs = graph_specs(checkpoint)
    s = cfg.vision_config.image_size
    ids, mask, pixels = export_inputs(checkpoint.tokenizer, limit, s, s)
    with torch.no_grad():
        image_features = image_token_features(model.bridgetower, pixels)
        text_features = text_token_features(model.bridgetower, ids, mask)
    image_mask = torch.ones(2, image_tokens(checkpoint), dtype=torch.long)
    itc = checkpoint.itc_model
    export_graph(ImageGraph(model, itc and itc.itc_image_head), (pixels,), specs["image_encoder"],
                 out / "image_encoder.onnx")
    export_graph(TextGraph(model, itc and itc.itc_text_head), (ids, mask), specs["text_encoder"],
                 out / "text_encoder.onnx")
    export_graph(ItmGraph(model), (text_features, mask, image_features, image_mask), specs["fusion_itm"],
                 out / "fusion_itm.onnx")

    ref = write_reference(checkpoint, out, limit)
    layers, tokens, width = feature_layers(checkpoint), image_tokens(checkpoint), cfg.hidden_size
    parity = onnx_parity(out, ref, layers)
    served = [model] if itc is None else [model, itc.itc_text_head, itc.itc_image_head]
    manifest = {
        "format_version": BUNDLE_FORMAT,
        "name": name or out.name,
        "model": model_section(checkpoint, "bridgetower", ARCHITECTURE, served,
                               **({} if itc is None else {"itc_architecture": ITC_ARCHITECTURE})),
        **({} if itc is None else
           {"embedding": {"dim": embedding_dim(checkpoint), "normalized": True, "similarity": "dot_product"}}),
        "token_features": {"width": width, "feature_layers": layers, "image_tokens": tokens,
                           "layout": "[tokens = feature_layers x tokens_per_layer, width], layer-major",
                           "codec": codec, "codecs": list(CODECS)},
        "text": text_section(checkpoint.tokenizer, limit, cfg.text_config.vocab_size),
        "image": image_section(checkpoint.processor, cfg.vision_config.image_size),
        "graphs": {key: {"file": f"{key}.onnx", "opset": OPSET, **spec} for key, spec in specs.items()},
        "fusion": fusion_section(FUSION_INPUTS, embedding=itc is not None),
        "score": SCORE,
        "rerank": rerank_section(itc is not None),
        "fusion_flops_per_pair": fusion_flops_per_pair(checkpoint, limit),
        "bytes_per_image": bytes_per_item(layers, tokens, width),
        "export_check": {"onnxruntime": ort.__version__, "max_abs_diff_vs_source": parity},
        "files": file_entries(out),
    }
    return write_manifest(out, manifest)
