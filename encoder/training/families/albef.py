"""ALBEF's image-text retrieval model, exactly as released, in one file.

ALBEF: "Align before Fuse: Vision and Language Representation Learning with Momentum
Distillation", Li et al., 2021 (arXiv 2107.07651), §3.1 and the retrieval evaluation of §5:

- image encoder: DeiT's ViT-B/16 (Dosovitskiy et al., 2021; Touvron et al., 2021): patchify,
  [CLS], learned positions, pre-LN blocks with a fused qkv projection, LayerNorm eps 1e-6, a final
  LayerNorm; 384² for retrieval (577 tokens);
- text encoder: the first ``fusion_layer`` (6) layers of BERT-base (Devlin et al., 2019): word +
  position + token-type embeddings, post-LN layers (eps 1e-12);
- fusion encoder: the remaining BERT layers, each self-attention, cross-attention to every image
  token, FFN, all post-LN;
- ITC: ``normalize(vision_proj(image [CLS]))`` and ``normalize(text_proj(text [CLS]))``, 256-d;
- ITM: ``itm_head`` (Linear(768, 2), no-match / match) on the fused [CLS]. ALBEF's retrieval
  ranks the ITC top-k by the match logit.

How this differs from ``model.py`` (our own models, trained from scratch here), and why: every
block of ``model.py`` is pre-LN and its text and fusion stacks end in a LayerNorm, which trains
stably from random init; ALBEF's BERT is post-LN with no final norm, because it starts from
BERT-base weights. ALBEF's text has token-type embeddings (always type 0) and a 512-position
table; its padding mask adds -10000 (BERT's constant) where ``model.py`` adds the dtype's minimum;
its cross-attention reads the image tokens at their own width with no ``feature_dim``
projection. ALBEF's model also carries momentum copies, queues and a temperature for training;
retrieval needs none of them, so they are not here.

Parameter names are ours (``families/albef_checkpoint.py`` maps ALBEF's ``.pth`` onto them). The
forward pass was checked against ALBEF's own code on random weights
(``tests/test_albef.py``, fixture ``tests/fixtures/albef/``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

# BERT's additive padding mask value (ALBEF's xbert ``get_extended_attention_mask``).
BERT_MASK_VALUE = -10000.0


@dataclass(frozen=True)
class AlbefInputs:
    """How ALBEF's retrieval evaluation prepares its inputs, for the bundle's manifest.

    Images (``dataset/__init__.py``, ``test_transform``): ``Image.open(...).convert('RGB')``,
    ``Resize((image_res, image_res), interpolation=BICUBIC)`` on the PIL image (PIL's bicubic,
    which antialiases when it downsamples), ``ToTensor``, ``Normalize(mean, std)`` (CLIP's
    values). Captions (``dataset/caption_dataset.py``, ``Retrieval.py::evaluation``):
    ``pre_caption(caption, 30)`` (``data.pre_caption``), then ``BertTokenizer('bert-base-uncased')``
    padded and truncated to 30 tokens, [CLS] and [SEP] included."""

    resize: str = "pil_bicubic"  # a data.RESIZE_RULES name
    mean: tuple = (0.48145466, 0.4578275, 0.40821073)
    std: tuple = (0.26862954, 0.26130258, 0.27577711)
    max_words: int = 30
    max_tokens: int = 30
    tokenizer: str = "bert-base-uncased"


@dataclass(frozen=True)
class AlbefConfig:
    """Sizes of an ALBEF retrieval model. Defaults: ALBEF-base at 384² (``configs/config_bert.json``
    and ``configs/Retrieval_*.yaml`` of the ALBEF repository)."""

    image_size: int = 384  # ALBEF's image_res
    patch_size: int = 16
    vision_width: int = 768
    vision_layers: int = 12
    vision_heads: int = 12
    vision_mlp_ratio: float = 4.0
    vision_eps: float = 1e-6
    vocab_size: int = 30522
    text_width: int = 768  # BERT hidden_size
    text_layers: int = 12  # BERT num_hidden_layers, text + fusion
    text_heads: int = 12
    text_intermediate: int = 3072
    max_positions: int = 512
    type_vocab_size: int = 2
    text_eps: float = 1e-12
    pad_id: int = 0
    fusion_layer: int = 6  # the first layer with cross-attention
    embed_dim: int = 256  # ITC space

    def __post_init__(self):
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size [{self.image_size}] is not a multiple of patch_size [{self.patch_size}]")
        for width, heads, name in ((self.vision_width, self.vision_heads, "vision"),
                                   (self.text_width, self.text_heads, "text")):
            if width % heads:
                raise ValueError(f"{name} width [{width}] is not a multiple of its heads [{heads}]")
        if not 0 < self.fusion_layer < self.text_layers:
            raise ValueError(f"fusion_layer [{self.fusion_layer}] must be within (0, {self.text_layers}): "
                             f"text layers come before it and fusion layers from it")

    @property
    def image_tokens(self) -> int:
        """[CLS] + patches."""
        return (self.image_size // self.patch_size) ** 2 + 1

    @property
    def fusion_layers(self) -> int:
        return self.text_layers - self.fusion_layer

    def to_dict(self) -> dict:
        return asdict(self)


class VisionAttention(nn.Module):
    """ViT self-attention with one fused qkv projection."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, N, W]
        b, n, w = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)  # [3, B, H, N, Dh]
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(-2, -1)) * (w // self.heads) ** -0.5  # [B, H, N, N]
        return self.out((scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, w))


class Mlp(nn.Module):
    """Linear, exact (erf) GELU, Linear: the FFN of ViT and of BERT."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class VisionBlock(nn.Module):
    """Pre-LN ViT block."""

    def __init__(self, cfg: AlbefConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.vision_width, eps=cfg.vision_eps)
        self.attn = VisionAttention(cfg.vision_width, cfg.vision_heads)
        self.norm2 = nn.LayerNorm(cfg.vision_width, eps=cfg.vision_eps)
        self.mlp = Mlp(cfg.vision_width, int(cfg.vision_width * cfg.vision_mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """DeiT ViT: pixels [B, 3, S, S] -> token states [B, 1 + P, Wv] after the final LayerNorm."""

    def __init__(self, cfg: AlbefConfig):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, cfg.vision_width, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.vision_width))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.image_tokens, cfg.vision_width))
        self.blocks = nn.ModuleList(VisionBlock(cfg) for _ in range(cfg.vision_layers))
        self.norm = nn.LayerNorm(cfg.vision_width, eps=cfg.vision_eps)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixels).flatten(2).transpose(1, 2)  # [B, P, Wv]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed  # [B, 1 + P, Wv]
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class BertAttention(nn.Module):
    """BERT multi-head attention; keys and values come from ``context`` (itself for
    self-attention, the image tokens of width ``kv_width`` for cross-attention)."""

    def __init__(self, width: int, heads: int, kv_width: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(kv_width, width)
        self.v = nn.Linear(kv_width, width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        # x: [B, Tq, W]; context: [B, Tk, Wkv]; mask: [B, 1, 1, Tk] additive or None
        b, tq, w = x.shape
        dh = w // self.heads
        q = self.q(x).view(b, tq, self.heads, dh).transpose(1, 2)  # [B, H, Tq, Dh]
        k = self.k(context).view(b, -1, self.heads, dh).transpose(1, 2)  # [B, H, Tk, Dh]
        v = self.v(context).view(b, -1, self.heads, dh).transpose(1, 2)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)  # [B, H, Tq, Tk]
        if mask is not None:
            scores = scores + mask
        return self.out((scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, tq, w))


class BertLayer(nn.Module):
    """Post-LN BERT layer: ``x = LN(x + SelfAttn(x))``; in fusion layers
    ``x = LN(x + CrossAttn(x, image))``; then ``x = LN(x + FFN(x))``."""

    def __init__(self, cfg: AlbefConfig, cross: bool):
        super().__init__()
        w = cfg.text_width
        self.attn = BertAttention(w, cfg.text_heads, w)
        self.attn_norm = nn.LayerNorm(w, eps=cfg.text_eps)
        self.cross = None
        if cross:
            self.cross = BertAttention(w, cfg.text_heads, cfg.vision_width)
            self.cross_norm = nn.LayerNorm(w, eps=cfg.text_eps)
        self.mlp = Mlp(w, cfg.text_intermediate)
        self.mlp_norm = nn.LayerNorm(w, eps=cfg.text_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, image: torch.Tensor | None = None,
                image_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attn_norm(x + self.attn(x, x, mask))
        if self.cross is not None:
            x = self.cross_norm(x + self.cross(x, image, image_mask))
        return self.mlp_norm(x + self.mlp(x))


class TextEncoder(nn.Module):
    """BERT embeddings and layers ``0 .. fusion_layer-1``: ids [B, L] -> states [B, L, Wt]."""

    def __init__(self, cfg: AlbefConfig):
        super().__init__()
        self.token_embed = nn.Embedding(cfg.vocab_size, cfg.text_width, padding_idx=cfg.pad_id)
        self.position_embed = nn.Embedding(cfg.max_positions, cfg.text_width)
        self.type_embed = nn.Embedding(cfg.type_vocab_size, cfg.text_width)
        self.embed_norm = nn.LayerNorm(cfg.text_width, eps=cfg.text_eps)
        self.layers = nn.ModuleList(BertLayer(cfg, cross=False) for _ in range(cfg.fusion_layer))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        # Every token is of type 0, as in ALBEF's retrieval.
        x = self.token_embed(ids) + self.type_embed.weight[0] + self.position_embed(positions)  # [B, L, Wt]
        x = self.embed_norm(x)
        attn_mask = padding_mask(mask, x.dtype)
        for layer in self.layers:
            x = layer(x, attn_mask)
        return x


class FusionEncoder(nn.Module):
    """BERT layers ``fusion_layer ..``: text states [B, L, Wt] cross-attend to image tokens
    [B, N, Wv] -> fused states [B, L, Wt]."""

    def __init__(self, cfg: AlbefConfig):
        super().__init__()
        self.layers = nn.ModuleList(BertLayer(cfg, cross=True) for _ in range(cfg.fusion_layers))

    def forward(self, text: torch.Tensor, mask: torch.Tensor, image: torch.Tensor,
                image_mask: torch.Tensor | None = None) -> torch.Tensor:
        attn_mask = padding_mask(mask, text.dtype)
        # ALBEF passes an all-ones image mask (``image_atts``), which adds 0: None (no mask) is the same.
        image_attn_mask = None if image_mask is None else padding_mask(image_mask, text.dtype)
        x = text
        for layer in self.layers:
            x = layer(x, attn_mask, image, image_attn_mask)
        return x


def padding_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, L] 1/0 key mask -> [B, 1, 1, L] additive mask, BERT's ``(1 - m) * -10000``."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * BERT_MASK_VALUE


class AlbefRetrieval(nn.Module):
    """ALBEF's retrieval model: the three pieces the bundle exports."""

    def __init__(self, cfg: AlbefConfig):
        super().__init__()
        self.cfg = cfg
        self.vision = VisionTransformer(cfg)
        self.text = TextEncoder(cfg)
        self.fusion = FusionEncoder(cfg)
        self.vision_proj = nn.Linear(cfg.vision_width, cfg.embed_dim)
        self.text_proj = nn.Linear(cfg.text_width, cfg.embed_dim)
        self.itm_head = nn.Linear(cfg.text_width, 2)

    def encode_image(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pixels [B, 3, S, S] -> (ITC vector [B, E], image token features [B, 1 + P, Wv])."""
        feats = self.vision(pixels)
        return F.normalize(self.vision_proj(feats[:, 0]), dim=-1), feats

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids, mask [B, L] -> (ITC vector [B, E], text states after layer ``fusion_layer - 1``
        [B, L, Wt]), the fusion encoder's text input."""
        states = self.text(ids, mask)
        return F.normalize(self.text_proj(states[:, 0]), dim=-1), states

    def itm_logits(self, text_states: torch.Tensor, mask: torch.Tensor, image_feats: torch.Tensor,
                   image_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Text states [B, L, Wt] with their mask [B, L] and image features [B, N, Wv], optionally
        with a [B, N] mask over the image tokens (1 real, 0 batch padding; ALBEF's ``image_atts``)
        -> [B, 2] (no-match, match) logits on the fused [CLS]. The signature is the bundle
        contract's fusion graph (``export.FusionItmGraph``)."""
        return self.itm_head(self.fusion(text_states, mask, image_feats, image_mask)[:, 0])
