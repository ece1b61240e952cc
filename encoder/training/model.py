"""ALBEF-style dual encoders and fusion encoder, in one file.

ALBEF: "Align before Fuse: Vision and Language Representation Learning with Momentum
Distillation", Li et al., 2021 (arXiv 2107.07651). The pieces:

- image encoder: a ViT (patch embedding, [CLS], learned positions, pre-LN blocks);
- text encoder: BERT-style self-attention layers over WordPiece tokens;
- fusion encoder: layers of text self-attention + cross-attention to the image tokens + FFN;
- ITC projections of both [CLS] states into one normalized ``embed_dim`` space, with a learnable
  temperature; an ITM head (2-way) and an MLM head on the fusion outputs.

BridgeTower option (``bridge=True``; Xu et al., 2022, arXiv 2206.08657): the top ``fusion_layers``
uni-modal layers feed the cross-modal layers. Fusion layer ``i`` cross-attends to the output of
vision layer ``L_v - N + i`` (each through its own LayerNorm), and its text input is
``LayerNorm(x_cross + x_uni)``: the previous fusion layer's output plus text layer ``L_t - N + i``'s
output, BridgeTower's cheapest and best bridge. Token features then carry ``N`` layers each.

Departures from ALBEF, all for training from scratch on small data and for ONNX export:
- every block is pre-LN (ALBEF's BERT is post-LN and starts from BERT-base weights, which
  cannot be downloaded here); pre-LN trains stably from random init;
- attention is written out (matmul + additive mask + softmax) so the exported graphs are plain
  ONNX ops with dynamic batch and token axes;
- ``feature_dim`` projections map the image and text token states to one shared width before
  the fusion encoder, so a stored image feature blob has a single, declared width.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


# Experiment switches that were removed (docs/experiments.md), with the value the code now always
# implements: the ViT patchify, learned image positions, bidirectional fusion self-attention.
RETIRED_SWITCHES = {"conv_stem": False, "image_positions": "learned", "fusion_attention": "bidirectional"}


@dataclass(frozen=True)
class ModelConfig:
    image_size: int = 64
    patch_size: int = 8
    vision_width: int = 192
    vision_layers: int = 4
    vision_heads: int = 3
    vocab_size: int = 4000
    text_width: int = 192
    text_layers: int = 2
    text_heads: int = 3
    fusion_layers: int = 2
    mlp_ratio: float = 4.0
    max_tokens: int = 32
    embed_dim: int = 128  # ITC space
    temp: float = 0.07  # initial ITC temperature (learnable)
    queue_size: int = 4096  # MoCo-style feature queues (ALBEF: 65,536)
    momentum: float = 0.995  # EMA of the momentum encoders
    alpha: float = 0.4  # momentum-distillation weight (ramped from 0 by the trainer)
    mlm_probability: float = 0.15
    bridge: bool = False
    # Fixed 2D sine-cosine codes added to the image tokens inside the fusion encoder, so it can
    # read where each token is whatever the image encoder kept. See FusionEncoder.
    fusion_image_positions: bool = False
    dropout: float = 0.0
    pad_id: int = 0
    cls_id: int = 2
    sep_id: int = 3
    mask_id: int = 4

    def __post_init__(self):
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size [{self.image_size}] is not a multiple of patch_size [{self.patch_size}]")
        for width, heads, name in ((self.vision_width, self.vision_heads, "vision"), (self.text_width, self.text_heads, "text")):
            if width % heads:
                raise ValueError(f"{name} width [{width}] is not a multiple of its heads [{heads}]")
        if self.fusion_image_positions and self.text_width % 4:
            raise ValueError(f"fusion image positions need a text width divisible by 4, not [{self.text_width}]")
        if self.bridge and (self.fusion_layers > self.text_layers or self.fusion_layers > self.vision_layers):
            raise ValueError(
                f"bridge needs fusion_layers [{self.fusion_layers}] <= text_layers [{self.text_layers}] "
                f"and vision_layers [{self.vision_layers}]"
            )

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def image_tokens(self) -> int:
        """Image tokens per feature layer: [CLS] + patches."""
        return self.num_patches + 1

    @property
    def feature_layers(self) -> int:
        """Uni-modal layers whose token states the fusion encoder reads (BridgeTower: N)."""
        return self.fusion_layers if self.bridge else 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> "ModelConfig":
        """The config a checkpoint or a bundle's manifest records. Keys of removed experiment
        switches (docs/experiments.md) are accepted only at the value the code now always
        implements, so older checkpoints load; any other value names a model this code cannot
        build and is refused."""
        config = dict(config)
        for key, built in RETIRED_SWITCHES.items():
            value = config.pop(key, built)
            if value != built:
                raise ValueError(f"config [{key}] is [{value}]: that switch was removed (docs/experiments.md) "
                                 f"and only [{built}] is built")
        return cls(**config)


PRESETS = {
    # For tests: seconds on CPU.
    "tiny": ModelConfig(
        image_size=32, patch_size=8, vision_width=32, vision_layers=2, vision_heads=2, text_width=32,
        text_layers=2, text_heads=2, fusion_layers=2, max_tokens=16, embed_dim=16, queue_size=64,
    ),
    # The default shipped model: trains on 2 CPU cores in ~20 minutes on the synthetic scenes.
    "small": ModelConfig(),
    # ALBEF-sized: ViT-B/16 at 256², 6 + 6 BERT-base layers, 256-d ITC. GPU only.
    "base": ModelConfig(
        image_size=256, patch_size=16, vision_width=768, vision_layers=12, vision_heads=12, vocab_size=30522,
        text_width=768, text_layers=6, text_heads=12, fusion_layers=6, max_tokens=40, embed_dim=256,
        queue_size=65536, dropout=0.1,
    ),
}


@dataclass
class Batch:
    """One training batch: images [B, 3, S, S], caption ids and mask [B, L], and ``image_idx``
    [B], each caption's image id, so that captions of one image are all positives. The optional
    swap tensors are one word-swapped caption per row (negatives.py): ``swap_ids``/``swap_mask``
    [B, L] padded to the captions' length, and ``swap_valid`` [B], False where a caption has no
    swap (the row then holds its own caption and is left out)."""

    pixels: torch.Tensor
    ids: torch.Tensor
    mask: torch.Tensor
    image_idx: torch.Tensor
    swap_ids: torch.Tensor | None = None
    swap_mask: torch.Tensor | None = None
    swap_valid: torch.Tensor | None = None

    def to(self, device) -> Batch:
        return Batch(*(None if t is None else t.to(device) for t in (
            self.pixels, self.ids, self.mask, self.image_idx, self.swap_ids, self.swap_mask, self.swap_valid)))


@dataclass(frozen=True)
class StepOptions:
    """What one training step computes (ALBEF.forward).

    - ``alpha``: the momentum-distillation weight of ITC and MLM (ALBEF §3.3).
    - ``mlm``: add masked language modelling (pretraining only).
    - ``itc``: train ITC and the encoders; False trains ITM alone on frozen encoders (pretrain.py's
      ``itm`` mode): the encoders run without gradient, and ITC, the momentum model and the queues
      are skipped.
    - ``use_queue``: False contrasts in-batch only (the queue is still filled). From random init
      the momentum features are all alike, and a queue of near-identical negatives makes "every
      embedding opposite the queue" a collapse the loss prefers, so the trainer turns the queue on
      only after a warm-up.
    - ``hard_ratio``: the share of ITM negatives drawn by ITC similarity (sample_hard_negatives).
    - ``in_batch_negatives``: False (ITM alone, with swapped captions) keeps the swapped captions
      as the only ITM negatives.
    """

    alpha: float
    mlm: bool = True
    itc: bool = True
    use_queue: bool = True
    hard_ratio: float = 1.0
    in_batch_negatives: bool = True


def preset(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset [{name}]; valid presets: {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, T] 1/0 key mask -> [B, 1, 1, T] additive mask (0 keep, large negative drop)."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class Attention(nn.Module):
    """Multi-head attention; ``kv_width`` differs from ``width`` for cross-attention."""

    def __init__(self, width: int, heads: int, kv_width: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.head_dim = width // heads
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(kv_width or width, width)
        self.v = nn.Linear(kv_width or width, width)
        self.out = nn.Linear(width, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        # x: [B, Tq, W]; context: [B, Tk, Wkv]; mask: [B, 1, 1, Tk] additive or None
        b, tq, w = x.shape
        tk = context.shape[1]
        q = self.q(x).view(b, tq, self.heads, self.head_dim).transpose(1, 2)  # [B, H, Tq, Dh]
        k = self.k(context).view(b, tk, self.heads, self.head_dim).transpose(1, 2)  # [B, H, Tk, Dh]
        v = self.v(context).view(b, tk, self.heads, self.head_dim).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # [B, H, Tq, Tk]
        if mask is not None:
            scores = scores + mask
        weights = self.dropout(scores.softmax(dim=-1))
        return self.out((weights @ v).transpose(1, 2).reshape(b, tq, w))


class MLP(nn.Sequential):
    def __init__(self, width: int, ratio: float, dropout: float):
        hidden = int(width * ratio)
        super().__init__(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width), nn.Dropout(dropout))


class Block(nn.Module):
    """Pre-LN transformer block: self-attention, optional cross-attention, FFN."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float, cross_width: int | None = None):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads, dropout=dropout)
        self.cross = None
        if cross_width is not None:
            self.norm_cross = nn.LayerNorm(width)
            self.cross = Attention(width, heads, kv_width=cross_width, dropout=dropout)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = MLP(width, mlp_ratio, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask=None, context=None, context_mask=None):
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, h, mask))
        if self.cross is not None:
            x = x + self.drop(self.cross(self.norm_cross(x), context, context_mask))
        return x + self.mlp(self.norm2(x))


def sincos_2d_positions(grid: int, width: int) -> torch.Tensor:
    """Fixed 2D sine-cosine position embeddings (MAE, He et al. 2022; MoCo v3, Chen et al. 2021):
    half the channels encode the column, half the row, each as sines and cosines of geometrically
    spaced frequencies. Returns [1, 1 + grid*grid, width] with a zero row for [CLS].

    Over the grid the low-frequency sines rise monotonically with the coordinate, so "is A left of
    B" is close to a linear read-out of the two tokens' codes. Used by the fusion encoder's
    ``fusion_image_positions``."""
    quarter = width // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64), indexing="ij")
    def encode(coord):
        angles = coord.reshape(-1, 1) * omega.reshape(1, -1)
        return torch.cat([angles.sin(), angles.cos()], dim=1)
    codes = torch.cat([encode(cols), encode(rows)], dim=1).float()  # [grid*grid, width]
    return torch.cat([torch.zeros(1, width), codes]).unsqueeze(0)


class VisionTransformer(nn.Module):
    """ViT (Dosovitskiy et al., 2021): patchify, [CLS], learned positions, pre-LN blocks; returns
    every block's token states, the last one normed."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, cfg.vision_width, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.vision_width))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.image_tokens, cfg.vision_width))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks = nn.ModuleList(
            Block(cfg.vision_width, cfg.vision_heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.vision_layers)
        )
        self.norm = nn.LayerNorm(cfg.vision_width)

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        # pixels: [B, 3, S, S] -> list of [B, 1 + P, Wv], one per block
        x = self.patch_embed(pixels).flatten(2).transpose(1, 2)  # [B, P, Wv]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        states = []
        for block in self.blocks:
            x = block(x)
            states.append(x)
        states[-1] = self.norm(x)
        return states


class TextTransformer(nn.Module):
    """BERT-style text encoder (token + learned position embeddings, pre-LN blocks)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.token_embed = nn.Embedding(cfg.vocab_size, cfg.text_width, padding_idx=cfg.pad_id)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.max_tokens, cfg.text_width))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.embed_norm = nn.LayerNorm(cfg.text_width)
        self.blocks = nn.ModuleList(
            Block(cfg.text_width, cfg.text_heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.text_layers)
        )
        self.norm = nn.LayerNorm(cfg.text_width)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        # ids, mask: [B, L] -> list of [B, L, Wt], one per block
        x = self.embed_norm(self.token_embed(ids) + self.pos_embed[:, : ids.shape[1]])
        attn_mask = additive_mask(mask, x.dtype)
        states = []
        for block in self.blocks:
            x = block(x, attn_mask)
            states.append(x)
        states[-1] = self.norm(x)
        return states


class FusionEncoder(nn.Module):
    """Text tokens attend to themselves and cross-attend to image tokens (ALBEF's multimodal
    encoder); with ``bridge`` each layer reads its own uni-modal layer (BridgeTower).

    ``fusion_image_positions`` adds fixed 2D sine-cosine codes (:func:`sincos_2d_positions`) to
    the image tokens before every cross-attention, as DETR adds its spatial codes to the memory
    (Carion et al., 2020). Why: cross-attention is a weighted sum over the tokens, blind to their
    order, so the fusion encoder can only tell "left" from "right" if the tokens say where they
    are, and the ITC-trained ViT keeps little of it: a linear read-out recovers a token's column
    from the shipped small model's token features with R^2 0.35 (row 0.24;
    ``tools/frozen_fusion_probe.py``). With the codes, a fresh fusion
    encoder trained on those same frozen features learnt "the red square is on the left" (99.8%
    after 500 steps) and then "A left of B" against "B left of A" (65.5% 500 steps later and
    rising; a scratch run with other random draws reached 99.4%); without them both stayed at
    chance. It leaves the image encoder and the stored features alone, so it can be added to a
    trained dual encoder (``pretrain.py``'s ``itm`` mode)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        width = cfg.text_width
        self.layers = nn.ModuleList(
            Block(width, cfg.text_heads, cfg.mlp_ratio, cfg.dropout, cross_width=width) for _ in range(cfg.fusion_layers)
        )
        self.norm = nn.LayerNorm(width)
        if cfg.fusion_image_positions:
            # Not persistent: a fixed function of the config, so checkpoints without it still load.
            grid = cfg.image_size // cfg.patch_size
            self.register_buffer("image_position_codes", sincos_2d_positions(grid, width).unsqueeze(1), persistent=False)
        if cfg.bridge:
            self.text_bridges = nn.ModuleList(nn.LayerNorm(width) for _ in range(cfg.fusion_layers))
            self.image_bridges = nn.ModuleList(nn.LayerNorm(width) for _ in range(cfg.fusion_layers))

    def forward(self, text_feats, text_mask, image_feats, image_mask):
        """text_feats: [B, N, L, W], image_feats: [B, N, T, W] (N = feature_layers);
        masks: [B, L], [B, T]. Returns the fused text states [B, L, W]."""
        text_attn = additive_mask(text_mask, text_feats.dtype)
        image_attn = additive_mask(image_mask, image_feats.dtype)
        if self.cfg.fusion_image_positions:
            image_feats = image_feats + self.image_position_codes.to(image_feats.dtype)  # [1, 1, T, W]
        x = None
        for i, layer in enumerate(self.layers):
            if self.cfg.bridge:
                uni = text_feats[:, i]
                x = self.text_bridges[i](uni if x is None else x + uni)
                context = self.image_bridges[i](image_feats[:, i])
            else:
                x = text_feats[:, 0] if x is None else x
                context = image_feats[:, 0]
            x = layer(x, text_attn, context, image_attn)
        return self.norm(x)


class ALBEF(nn.Module):
    """The whole model: encoders, ITC projections, fusion encoder, ITM and MLM heads, and the
    momentum copies and queues used in training (ALBEF §3.2–3.3)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.vision = VisionTransformer(cfg)
        self.text = TextTransformer(cfg)
        self.vision_proj = nn.Linear(cfg.vision_width, cfg.embed_dim)
        self.text_proj = nn.Linear(cfg.text_width, cfg.embed_dim)
        # The fusion encoder's cross-attention reads image tokens at text width: store them so.
        self.image_feature_proj = nn.Linear(cfg.vision_width, cfg.text_width)
        self.fusion = FusionEncoder(cfg)
        self.itm_head = nn.Linear(cfg.text_width, 2)
        self.mlm_head = nn.Sequential(
            nn.Linear(cfg.text_width, cfg.text_width), nn.GELU(), nn.LayerNorm(cfg.text_width),
            nn.Linear(cfg.text_width, cfg.vocab_size),
        )
        self.temp = nn.Parameter(torch.tensor(cfg.temp))
        self.apply(_init_weights)

        # Momentum (EMA) model: encoders, projections, fusion and MLM head, never trained by
        # gradients (ALBEF's momentum distillation uses its ITC similarities and MLM logits).
        self.momentum_names = ["vision", "text", "vision_proj", "text_proj", "image_feature_proj", "fusion", "mlm_head"]
        for name in self.momentum_names:
            twin = copy.deepcopy(getattr(self, name))
            for p in twin.parameters():
                p.requires_grad_(False)
            setattr(self, name + "_m", twin)

        self.register_buffer("image_queue", F.normalize(torch.randn(cfg.embed_dim, cfg.queue_size), dim=0))
        self.register_buffer("text_queue", F.normalize(torch.randn(cfg.embed_dim, cfg.queue_size), dim=0))
        # Image ids of the queued features: queued captions of the batch's own images are positives.
        self.register_buffer("idx_queue", torch.full((1, cfg.queue_size), -100, dtype=torch.long))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    # ---- the three inference graphs (exported to ONNX) -------------------------------------

    def encode_image(self, pixels, momentum: bool = False):
        """pixels [B, 3, S, S] -> (normalized ITC embedding [B, D], token features [B, N*T, W])."""
        vision, vision_proj, feature_proj = self._parts(momentum, "vision", "vision_proj", "image_feature_proj")
        states = vision(pixels)
        embedding = F.normalize(vision_proj(states[-1][:, 0]), dim=-1)
        feats = torch.cat([feature_proj(s) for s in states[-self.cfg.feature_layers:]], dim=1)  # layer-major
        return embedding, feats

    def encode_text(self, ids, mask, momentum: bool = False):
        """ids, mask [B, L] -> (normalized ITC embedding [B, D], token features [B, N*L, W])."""
        text, text_proj = self._parts(momentum, "text", "text_proj")
        states = text(ids, mask)
        embedding = F.normalize(text_proj(states[-1][:, 0]), dim=-1)
        feats = torch.cat(states[-self.cfg.feature_layers:], dim=1)
        return embedding, feats

    def fuse(self, text_feats, text_mask, image_feats, image_mask, momentum: bool = False):
        """Token features from encode_text / encode_image -> fused text states [B, L, W]."""
        (fusion,) = self._parts(momentum, "fusion")
        n = self.cfg.feature_layers
        b, w = text_feats.shape[0], text_feats.shape[-1]
        text_layers = text_feats.reshape(b, n, -1, w)
        image_layers = image_feats.reshape(b, n, -1, w)
        return fusion(text_layers, text_mask, image_layers, image_mask)

    def itm_logits(self, text_feats, text_mask, image_feats, image_mask):
        """[B, 2] (no-match, match) logits of ALBEF's ITM head on the fused [CLS] state."""
        fused = self.fuse(text_feats, text_mask, image_feats, image_mask)
        return self.itm_head(fused[:, 0])

    def reset_fusion(self):
        """Fresh fusion encoder and ITM head (and the fusion's momentum copy), initialised as at
        construction; the encoders are untouched. Why: a fusion encoder pretrained with
        position-free tokens has settled into matching a bag of attributes, and given position
        codes afterwards it still did not learn "on the left" in 250 steps, where a fresh one was
        at 88-94% (docs/training.md: the ITM stage)."""
        for module in (self.fusion, self.itm_head):
            module.apply(_init_weights)
        self.fusion_m.load_state_dict(self.fusion.state_dict())

    def _parts(self, momentum: bool, *names):
        return [getattr(self, name + "_m" if momentum else name) for name in names]

    # ---- training ---------------------------------------------------------------------------

    @torch.no_grad()
    def momentum_update(self):
        m = self.cfg.momentum
        for name in self.momentum_names:
            for p, p_m in zip(getattr(self, name).parameters(), getattr(self, name + "_m").parameters()):
                p_m.mul_(m).add_(p.detach(), alpha=1 - m)

    @torch.no_grad()
    def copy_to_momentum(self):
        for name in self.momentum_names:
            getattr(self, name + "_m").load_state_dict(getattr(self, name).state_dict())

    @torch.no_grad()
    def enqueue(self, image_feat, text_feat, idx):
        """Replace the oldest queue entries with this (all-gathered) batch; wraps around."""
        q = self.cfg.queue_size
        n = image_feat.shape[0]
        ptr = int(self.queue_ptr)
        positions = (torch.arange(n, device=image_feat.device) + ptr) % q
        self.image_queue[:, positions] = image_feat.T
        self.text_queue[:, positions] = text_feat.T
        self.idx_queue[:, positions] = idx.view(1, -1)
        self.queue_ptr[0] = (ptr + n) % q

    def forward(self, batch: Batch, options: StepOptions, gather=None):
        """Training losses for one batch: ITC (+ momentum distillation), ITM with hard negatives,
        and (pretraining) MLM; which of them, and the step's knobs, ``options`` says (StepOptions).
        ``batch.image_idx`` names each caption's image so that captions of one image are all
        positives; ``batch``'s swapped captions (negatives.py), where valid, are scored against their
        own image as extra ITM negatives. ``gather`` all-gathers across DDP ranks (identity if
        None). Returns a dict of scalar losses."""
        pixels, ids, mask, image_idx = batch.pixels, batch.ids, batch.mask, batch.image_idx
        swap_ids, swap_mask, swap_valid = batch.swap_ids, batch.swap_mask, batch.swap_valid
        alpha, hard_ratio = options.alpha, options.hard_ratio
        if not options.in_batch_negatives and (options.itc or swap_ids is None):
            raise ValueError("in_batch_negatives=False needs itc=False and swapped captions")
        if not options.itc:
            if options.mlm:
                raise ValueError("mlm needs itc: the ITM-only step runs the encoders without gradient")
            with torch.no_grad():
                image_embed, image_feats = self.encode_image(pixels)
                text_embed, text_feats = self.encode_text(ids, mask)
                swap = self._encode_swaps(swap_ids, swap_mask, swap_valid)
            return {"itm": self.itm_loss(image_embed, image_feats, text_embed, text_feats, mask, image_idx,
                                         hard_ratio, swap, options.in_batch_negatives)}
        gather = gather or (lambda t: t)
        with torch.no_grad():
            self.temp.clamp_(0.001, 0.5)

        image_embed, image_feats = self.encode_image(pixels)
        text_embed, text_feats = self.encode_text(ids, mask)

        # ITC with momentum features and queues (ALBEF eq. 1-3, retrieval variant with ids).
        # Departure: the in-batch columns use the online features (with gradient) and only the
        # queue holds momentum features. ALBEF puts momentum features there too, which works
        # from pretrained encoders; from random init the lagging momentum model gives targets that
        # cannot be told apart and ITC collapses.
        idx = image_idx.view(-1, 1)
        queue_size = self.cfg.queue_size if options.use_queue else 0
        image_queue = self.image_queue[:, :queue_size].clone().detach()
        text_queue = self.text_queue[:, :queue_size].clone().detach()
        idx_all = torch.cat([idx.T, self.idx_queue[:, :queue_size].clone().detach()], dim=1)
        pos = torch.eq(idx, idx_all).float()
        sim_targets = pos / pos.sum(dim=1, keepdim=True)
        with torch.no_grad():
            self.momentum_update()
            image_embed_m, image_feats_m = self.encode_image(pixels, momentum=True)
            text_embed_m, _ = self.encode_text(ids, mask, momentum=True)
            sim_i2t_m = image_embed_m @ torch.cat([text_embed_m.T, text_queue], dim=1) / self.temp
            sim_t2i_m = text_embed_m @ torch.cat([image_embed_m.T, image_queue], dim=1) / self.temp
            targets_i2t = alpha * sim_i2t_m.softmax(dim=1) + (1 - alpha) * sim_targets
            targets_t2i = alpha * sim_t2i_m.softmax(dim=1) + (1 - alpha) * sim_targets
        sim_i2t = image_embed @ torch.cat([text_embed.T, text_queue], dim=1) / self.temp
        sim_t2i = text_embed @ torch.cat([image_embed.T, image_queue], dim=1) / self.temp
        loss_itc = (
            -(F.log_softmax(sim_i2t, dim=1) * targets_i2t).sum(dim=1).mean()
            - (F.log_softmax(sim_t2i, dim=1) * targets_t2i).sum(dim=1).mean()
        ) / 2
        self.enqueue(gather(image_embed_m), gather(text_embed_m), gather(idx))

        loss_itm = self.itm_loss(image_embed, image_feats, text_embed, text_feats, mask, image_idx, hard_ratio,
                                 self._encode_swaps(swap_ids, swap_mask, swap_valid))
        losses = {"itc": loss_itc, "itm": loss_itm}
        if options.mlm:
            image_mask = torch.ones(pixels.shape[0], self.cfg.image_tokens, dtype=mask.dtype, device=mask.device)
            losses["mlm"] = self.mlm_loss(ids, mask, image_feats, image_mask, image_feats_m, alpha)
        return losses

    def _encode_swaps(self, swap_ids, swap_mask, swap_valid):
        """(token features, mask, valid) of the valid swapped captions, or None if there are none."""
        if swap_ids is None or not bool(swap_valid.any()):
            return None
        _, swap_feats = self.encode_text(swap_ids[swap_valid], swap_mask[swap_valid])
        return swap_feats, swap_mask[swap_valid], swap_valid

    def itm_loss(self, image_embed, image_feats, text_embed, text_feats, mask, image_idx, hard_ratio: float = 1.0,
                 swap=None, in_batch_negatives: bool = True):
        """ITM (ALBEF §3.2): the positive pairs plus one hard negative text per image and one hard
        negative image per text, sampled in-batch by ITC similarity (unless not
        ``in_batch_negatives``), plus the word-swapped captions (``swap``, from _encode_swaps)
        against their own images."""
        b = image_feats.shape[0]
        image_mask = torch.ones(b, self.cfg.image_tokens, dtype=mask.dtype, device=mask.device)
        itm_text, itm_text_mask, itm_image, itm_image_mask, n_negatives = text_feats, mask, image_feats, image_mask, 0
        if in_batch_negatives:
            bs_sim_i2t = (image_embed @ text_embed.T).detach() / self.temp
            neg_text = sample_hard_negatives(bs_sim_i2t, image_idx, hard_ratio)
            neg_image = sample_hard_negatives(bs_sim_i2t.T, image_idx, hard_ratio)
            itm_text = torch.cat([text_feats, text_feats, text_feats[neg_text]], dim=0)
            itm_text_mask = torch.cat([mask, mask, mask[neg_text]], dim=0)
            itm_image = torch.cat([image_feats, image_feats[neg_image], image_feats], dim=0)
            itm_image_mask = image_mask.repeat(3, 1)
            n_negatives = 2 * b
        if swap is not None:
            swap_feats, swap_text_mask, swap_valid = swap
            itm_text = torch.cat([itm_text, swap_feats], dim=0)
            itm_text_mask = torch.cat([itm_text_mask, swap_text_mask], dim=0)
            itm_image = torch.cat([itm_image, image_feats[swap_valid]], dim=0)
            itm_image_mask = torch.cat([itm_image_mask, image_mask[swap_valid]], dim=0)
            n_negatives += int(swap_valid.sum())
        logits = self.itm_logits(itm_text, itm_text_mask, itm_image, itm_image_mask)
        itm_labels = torch.cat([torch.ones(b), torch.zeros(n_negatives)]).long().to(logits.device)
        return F.cross_entropy(logits, itm_labels)

    def mlm_loss(self, ids, mask, image_feats, image_mask, image_feats_m, alpha):
        """Masked language modelling conditioned on the image (ALBEF §3.2), distilled from the
        momentum model's predictions with weight ``alpha`` (§3.3). ``image_feats_m`` are the
        momentum image features ITC already computed for this batch."""
        masked_ids, labels = mask_tokens(ids, mask, self.cfg)
        _, masked_feats = self.encode_text(masked_ids, mask)
        logits = self.mlm_head(self.fuse(masked_feats, mask, image_feats, image_mask))  # [B, L, V]
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        if alpha > 0:
            with torch.no_grad():
                _, masked_feats_m = self.encode_text(masked_ids, mask, momentum=True)
                logits_m = self.mlm_head_m(self.fuse(masked_feats_m, mask, image_feats_m, image_mask, momentum=True))
            selected = labels != -100
            soft = -(F.log_softmax(logits[selected], dim=-1) * logits_m[selected].softmax(dim=-1)).sum(-1).mean()
            loss = (1 - alpha) * loss + alpha * soft
        return loss


def sample_hard_negatives(sim: torch.Tensor, image_idx: torch.Tensor, hard_ratio: float = 1.0) -> torch.Tensor:
    """For each row of an in-batch similarity [B, B], sample one column with probability
    softmax(sim) (ALBEF's hard negatives), never a column of the same image (the positive, or a
    duplicate caption of it).

    ``hard_ratio`` < 1 mixes in uniform negatives: with weight ``1 - hard_ratio`` a row draws
    any other image uniformly. Departure for training from scratch: once ITC works, its hardest
    negatives here are the compositional confusers, and an ITM head that has not yet learnt easy
    matches learns nothing from them (it stays at the label prior), so the trainer ramps this
    from 0 to ALBEF's 1.

    Raises ValueError when a row has no negative at all (every item in the batch shows the same
    image): the batch sampler must put at least two images in a batch.
    """
    same = torch.eq(image_idx.view(-1, 1), image_idx.view(1, -1))
    if bool(same.all(dim=1).any()):
        raise ValueError(f"a batch row has no negative: batch image ids {image_idx.tolist()}")
    if not 0.0 <= hard_ratio <= 1.0:
        raise ValueError(f"hard_ratio [{hard_ratio}] must be within [0, 1]")
    hard = sim.float().softmax(dim=1).masked_fill(same, 0.0)
    # Underflowed rows still need a distribution over their negatives.
    hard = hard + (~same).float() * 1e-12
    uniform = (~same).float()
    weights = hard_ratio * hard / hard.sum(1, keepdim=True) + (1 - hard_ratio) * uniform / uniform.sum(1, keepdim=True)
    return torch.multinomial(weights, 1).squeeze(1)


def mask_tokens(ids: torch.Tensor, mask: torch.Tensor, cfg: ModelConfig, generator=None):
    """BERT masking: choose ``mlm_probability`` of the real tokens (never pad, [CLS], [SEP]);
    of those 80% become [MASK], 10% a random token, 10% stay. Labels are -100 elsewhere."""
    ids = ids.clone()
    probability = torch.full(ids.shape, cfg.mlm_probability, device=ids.device)
    special = (ids == cfg.pad_id) | (ids == cfg.cls_id) | (ids == cfg.sep_id) | (mask == 0)
    probability.masked_fill_(special, 0.0)
    chosen = torch.bernoulli(probability, generator=generator).bool()
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    replace_mask = torch.bernoulli(torch.full(ids.shape, 0.8, device=ids.device), generator=generator).bool() & chosen
    ids[replace_mask] = cfg.mask_id
    randomize = (
        torch.bernoulli(torch.full(ids.shape, 0.5, device=ids.device), generator=generator).bool() & chosen & ~replace_mask
    )
    random_ids = torch.randint(cfg.mask_id + 1, cfg.vocab_size, ids.shape, device=ids.device, generator=generator)
    ids[randomize] = random_ids[randomize]
    return ids, labels


def _init_weights(module: nn.Module):
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def fusion_flops(width: int, ffn_width: int, layers: int, text_tokens: int, image_tokens: int,
                 image_width: int | None = None) -> int:
    """Multiply-adds x2 of one pass of a fusion encoder (text tokens cross-attending to image
    tokens), for the benchmark's FLOP floor and the bundles' costs: per layer self-attention,
    cross-attention and FFN matmuls plus the ITM head. Keys and values are projected from image
    tokens ``image_width`` wide (default: ``width``)."""
    w, l, t, v = width, text_tokens, image_tokens, image_width or width
    per_layer = (
        4 * l * w * w + 2 * l * l * w  # self-attention: q,k,v,out projections; scores and mix
        + 2 * l * w * w + 2 * t * v * w + 2 * l * t * w  # cross: q,out on text; k,v on image; attention
        + 2 * l * w * ffn_width  # FFN
    )
    return 2 * (layers * per_layer + 2 * w)


def fusion_flops_per_pair(cfg: ModelConfig, text_tokens: int) -> int:
    """:func:`fusion_flops` of our fusion encoder at ``text_tokens``."""
    return fusion_flops(cfg.text_width, int(cfg.text_width * cfg.mlp_ratio), cfg.fusion_layers, text_tokens,
                        cfg.image_tokens)
