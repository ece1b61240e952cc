"""ALBEF's released checkpoints onto ``families/albef.py``.

A checkpoint as ALBEF's ``Retrieval.py`` / ``Pretrain.py`` save it is a ``.pth`` holding
``{"model": state_dict, "config": the run's YAML config, "optimizer": ..., ...}``; its sizes come
from the BERT config JSON it was trained with (``configs/config_bert.json``: BERT's fields plus
``fusion_layer`` and ``encoder_width``) and the YAML's ``image_res``, ``embed_dim`` and
``vision_width``. The ViT's depth, heads and patch are fixed in ALBEF's code (ViT-B/16); they are
arguments here only so that tests can build tiny models.

ALBEF's keys: ``visual_encoder.*`` (timm's ViT names), ``text_encoder.*`` (retrieval
checkpoints) or ``text_encoder.bert.*`` (pretraining checkpoints; ALBEF's ``Retrieval.py`` strips
``bert.`` the same way), ``vision_proj``, ``text_proj``, ``itm_head``. Training state that
retrieval does not use is skipped by name (``IGNORED``); any other key left over, any weight
missing and any shape that differs is refused, naming the key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from families.albef import AlbefConfig, AlbefRetrieval

# Keys of ALBEF checkpoints that retrieval does not read: the momentum encoders and projections,
# the ITC queues and temperature, BERT's position-id buffer (always 0..511), and the MLM head of
# pretraining checkpoints (BertForMaskedLM's ``cls``).
IGNORED = re.compile(
    r"^(visual_encoder_m|vision_proj_m|text_encoder_m|text_proj_m)\."
    r"|^(image_queue|text_queue|idx_queue|queue_ptr|temp)$"
    r"|^text_encoder\.embeddings\.position_ids$"
    r"|^text_encoder\.cls\."
)

# Our name inside a BERT layer -> ALBEF's (HF BERT's) name.
_BERT_LAYER = {
    "attn.q": "attention.self.query",
    "attn.k": "attention.self.key",
    "attn.v": "attention.self.value",
    "attn.out": "attention.output.dense",
    "attn_norm": "attention.output.LayerNorm",
    "cross.q": "crossattention.self.query",
    "cross.k": "crossattention.self.key",
    "cross.v": "crossattention.self.value",
    "cross.out": "crossattention.output.dense",
    "cross_norm": "crossattention.output.LayerNorm",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
    "mlp_norm": "output.LayerNorm",
}
_BERT_EMBEDDINGS = {
    "token_embed": "word_embeddings",
    "position_embed": "position_embeddings",
    "type_embed": "token_type_embeddings",
    "embed_norm": "LayerNorm",
}
# Our ViT names that differ from timm's.
_VIT = {"patch_embed": "patch_embed.proj", "attn.out": "attn.proj"}

_LAYER_KEY = re.compile(r"^(text|fusion)\.layers\.(\d+)\.(.+)\.(weight|bias)$")
_VISION_KEY = re.compile(r"^vision\.(.+?)(\.weight|\.bias)?$")


def albef_key(ours: str, fusion_layer: int) -> str:
    """ALBEF's state-dict key of our parameter ``ours`` (``text_encoder.*`` form)."""
    layer = _LAYER_KEY.match(ours)
    if layer:
        stack, index, part, kind = layer.groups()
        index = int(index) + (fusion_layer if stack == "fusion" else 0)
        return f"text_encoder.encoder.layer.{index}.{_BERT_LAYER[part]}.{kind}"
    if ours.startswith("text."):
        part, kind = ours[len("text."):].rsplit(".", 1)
        return f"text_encoder.embeddings.{_BERT_EMBEDDINGS[part]}.{kind}"
    vision = _VISION_KEY.match(ours)
    if vision:
        name, kind = vision.groups()
        for our_part, timm_part in _VIT.items():
            if name == our_part or name.endswith("." + our_part):
                name = name[: len(name) - len(our_part)] + timm_part
        return f"visual_encoder.{name}{kind or ''}"
    return ours  # vision_proj, text_proj, itm_head


def normalize_keys(state_dict: dict) -> dict:
    """``text_encoder.bert.X`` -> ``text_encoder.X`` (pretraining checkpoints wrap BERT in
    BertForMaskedLM); refuses a checkpoint holding both forms of one key."""
    out = {}
    for key, value in state_dict.items():
        name = key.replace("text_encoder.bert.", "text_encoder.", 1) if key.startswith("text_encoder.bert.") else key
        if name in out:
            raise ValueError(f"checkpoint holds [{name}] twice (with and without [bert.])")
        out[name] = value
    return out


def map_state_dict(albef_state: dict, model: AlbefRetrieval) -> dict:
    """ALBEF's state dict -> ours for ``model``. Raises ValueError naming every missing key, every
    unexpected key, or the first weight whose shape differs."""
    source = normalize_keys(albef_state)
    ours = model.state_dict()
    wanted = {albef_key(name, model.cfg.fusion_layer): name for name in ours}
    missing = sorted(key for key in wanted if key not in source)
    unexpected = sorted(key for key in source if key not in wanted and not IGNORED.search(key))
    if missing or unexpected:
        raise ValueError(f"ALBEF checkpoint does not match the config: missing keys {missing}, "
                         f"unexpected keys {unexpected}")
    mapped = {}
    for key, name in wanted.items():
        value = source[key]
        if tuple(value.shape) != tuple(ours[name].shape):
            hint = (" (the checkpoint was trained at another image_res; pass that size)"
                    if key == "visual_encoder.pos_embed" else "")
            raise ValueError(f"checkpoint key [{key}] has shape {list(value.shape)}, the config builds "
                             f"{list(ours[name].shape)}{hint}")
        mapped[name] = value
    return mapped


def config_from_bert(bert: dict, image_size: int, embed_dim: int, vision_width: int = 768,
                     vision_layers: int = 12, vision_heads: int = 12, patch_size: int = 16) -> AlbefConfig:
    """The model config from ALBEF's BERT config JSON and its YAML's ``image_res``, ``embed_dim``
    and ``vision_width``. Refuses a config ALBEF's xbert would not build as this model does."""
    if "fusion_layer" not in bert:
        raise ValueError(f"BERT config has no [fusion_layer]: not the config ALBEF was trained with "
                         f"(model_type [{bert.get('model_type')}])")
    for key, expected in (("hidden_act", "gelu"), ("position_embedding_type", "absolute")):
        if bert.get(key, expected) != expected:
            raise ValueError(f"BERT config [{key}] is [{bert[key]}]; only [{expected}] is built")
    encoder_width = bert.get("encoder_width", vision_width)
    if encoder_width != vision_width:
        raise ValueError(f"BERT config [encoder_width] [{encoder_width}] differs from vision_width [{vision_width}]")
    return AlbefConfig(
        image_size=image_size, patch_size=patch_size, vision_width=vision_width, vision_layers=vision_layers,
        vision_heads=vision_heads, vocab_size=bert["vocab_size"], text_width=bert["hidden_size"],
        text_layers=bert["num_hidden_layers"], text_heads=bert["num_attention_heads"],
        text_intermediate=bert["intermediate_size"], max_positions=bert["max_position_embeddings"],
        type_vocab_size=bert["type_vocab_size"], text_eps=bert["layer_norm_eps"], pad_id=bert.get("pad_token_id", 0),
        fusion_layer=bert["fusion_layer"], embed_dim=embed_dim,
    )


def load_albef(checkpoint: Path, bert_config: Path, image_size: int | None = None, embed_dim: int | None = None,
               **vision) -> AlbefRetrieval:
    """An ALBEF ``.pth`` and its BERT config JSON -> our model with its weights, in eval mode.

    ``image_size`` and ``embed_dim`` default to the ``image_res`` and ``embed_dim`` of the run
    config the checkpoint carries; ``vision`` (vision_width, vision_layers, vision_heads,
    patch_size) to ViT-B/16, with vision_width from the run config when it has one."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or "model" not in saved:
        raise ValueError(f"[{checkpoint}] holds no [model] state dict: not an ALBEF checkpoint")
    run = saved.get("config") or {}
    image_size = image_size or run.get("image_res")
    embed_dim = embed_dim or run.get("embed_dim")
    for name, value in (("image_res", image_size), ("embed_dim", embed_dim)):
        if value is None:
            raise ValueError(f"[{checkpoint}] carries no run config with [{name}]; pass it")
    if "vision_width" in run:
        vision.setdefault("vision_width", run["vision_width"])
    cfg = config_from_bert(json.loads(Path(bert_config).read_text()), image_size, embed_dim, **vision)
    model = AlbefRetrieval(cfg)
    model.load_state_dict(map_state_dict(saved["model"], model))
    return model.eval()
