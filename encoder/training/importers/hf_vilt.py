"""Hugging Face ``ViltForImageAndTextRetrieval`` checkpoints (ViLT, Kim et al. 2021) -> fuserank bundle.

ViLT is single-stream: the text embeddings and the linearly projected image patches are
concatenated and go through one transformer; retrieval scores a pair by
``rank_output(pooler(layernorm(hidden)[:, 0]))``, one logit read at the text [CLS]. It has no ITC
head, so a ViLT bundle only reranks: another bundle's vectors make the kNN first stage. The
bundle cuts ``ViltModel.forward`` where the two modalities meet:

* image encoder: the image rows of the single-stream input, what ``ViltEmbeddings.forward`` puts
  after the text rows: ``visual_embed(pixels, pixel_mask=all ones)`` (class token, patch
  projection, position table interpolated bilinearly with ``align_corners=True`` to the patch
  grid) + ``token_type_embeddings(1)``, every patch kept, in row-major order. Images vary in size
  (shortest edge 384, longest at most 639, both floored to 32), so the token count does too.
* text encoder: the text rows, ``text_embeddings(input_ids)`` + ``token_type_embeddings(0)``.
* fusion: both rows and masks concatenated, then the model's own encoder, final LayerNorm,
  pooler and ``rank_output``; ``itm_logits`` is ``[0, logit]`` so that a softmax gives
  ``sigmoid(logit)`` and column 1 is the match score as in every other bundle.

Hugging Face's ``visual_embed`` orders the kept patches by ``torch.multinomial``, a random
permutation. The transformer is permutation-equivariant over those rows and the score reads row 0
(the text [CLS]), so the order does not change the score; the graph keeps the patches in
row-major order and the parity checks against the Hugging Face forward prove the equivalence.
With ``config.max_image_length`` positive and below an image's patch count that forward keeps a
random subset of the patches, which a bundle cannot reproduce: such a checkpoint is refused.

Every candidate pair runs the whole transformer (12 layers over about 40 + 210 tokens for
ViLT-B/32), so the fusion costs far more per pair than BLIP's or ALBEF's cross-attention.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import transformers
from PIL import Image
from torch import nn
from transformers.image_utils import ChannelDimension
from transformers.models.vilt.image_processing_pil_vilt import (
    MAX_LONGER_EDGE,
    MAX_SHORTER_EDGE,
    get_resize_output_image_size,
)

from bundle_io import BUNDLE_FORMAT, OPSET, export_graph, file_entries
from feature_codec import CODECS, bytes_per_item
from fusion_contract import fusion_section
from importers import CheckpointError, hf_checkpoint
from importers.hf_checkpoint import (PIL_BICUBIC, REFERENCE_CAPTIONS, WEIGHT_FILES, Checkpoint, ModelGraph,
                                     check_steps, check_vocabulary, export_inputs, load_model, load_processor,
                                     max_abs_diff, model_section, read_config, required, session, start_bundle,
                                     text_section, tokenize, tokenizer_files, write_manifest)
from importers.reference_inputs import reference_images
from retrieval_eval import SCORE

ARCHITECTURE = "ViltForImageAndTextRetrieval"
FUSION_INPUTS = {"text_features": "text.token_features", "text_mask": "text.attention_mask",
                 "image_features": "image.token_features", "image_mask": "image.token_mask"}
# The FLOP count's image: ViLT's "shorter edge 384, longer edge under 640" (paper, section 4.1),
# which the processor's rule (longest edge int(1333 / 800 * 384) = 639, then floored to 32) makes
# 352 x 608, i.e. 11 x 19 patches at ViLT-B/32.
FLOPS_IMAGE = (384, 640)


class ImageGraph(ModelGraph):
    """pixels -> the image rows of ViLT's single-stream input: ``visual_embed`` with every patch
    valid, in row-major order instead of a random permutation, + the image modality embedding."""

    def forward(self, pixels):
        emb = self.model.vilt.embeddings
        patches = emb.patch_embeddings(pixels)  # [batch, width, h, w]
        batch, width, h, w = patches.shape
        grid = emb.config.image_size // emb.config.patch_size
        spatial = emb.position_embeddings[:, 1:, :].transpose(1, 2).view(1, width, grid, grid)
        position = nn.functional.interpolate(spatial, size=(h, w), mode="bilinear", align_corners=True)
        patches = patches.flatten(2).transpose(1, 2)
        position = position.flatten(2).transpose(1, 2)
        cls = emb.cls_token.expand(batch, -1, -1)
        cls_position = emb.position_embeddings[:, 0, :][:, None, :].expand(batch, -1, -1)
        rows = torch.cat((cls, patches), dim=1) + torch.cat((cls_position, position.expand(batch, -1, -1)), dim=1)
        modality = torch.ones_like(rows[:, :, 0], dtype=torch.long)
        return rows + emb.token_type_embeddings(modality)


class TextGraph(ModelGraph):
    """ids, mask -> the text rows: ``ViltEmbeddings.forward``'s PART 1 and its text modality embedding."""

    def forward(self, input_ids, attention_mask):
        emb = self.model.vilt.embeddings
        text = emb.text_embeddings(input_ids=input_ids)
        return text + emb.token_type_embeddings(torch.zeros_like(attention_mask, dtype=torch.long))


class FusionGraph(ModelGraph):
    """Text rows and mask, image rows and mask -> ``[0, rank_output logit]``: ``ViltModel.forward``
    from its concatenation on, then ``ViltForImageAndTextRetrieval``'s head."""

    def forward(self, text_features, text_mask, image_features, image_mask):
        vilt = self.model.vilt
        embeddings = torch.cat([text_features, image_features], dim=1)
        mask = torch.cat([text_mask, image_mask], dim=1)
        # create_bidirectional_mask for eager attention: 0 where attended, the dtype's minimum
        # elsewhere, added to every query row's scores (here broadcast instead of expanded).
        additive = torch.where(mask[:, None, None, :].bool(), torch.tensor(0.0, dtype=embeddings.dtype),
                               torch.tensor(torch.finfo(embeddings.dtype).min, dtype=embeddings.dtype))
        hidden = vilt.encoder(embeddings, attention_mask=additive).last_hidden_state
        logit = self.model.rank_output(vilt.pooler(vilt.layernorm(hidden)))
        return torch.cat([torch.zeros_like(logit), logit], dim=-1)


def read_checkpoint(directory: Path) -> Checkpoint:
    """Load model, tokenizer and image processor from local files only; every defect is a
    ``CheckpointError`` naming the file or field."""
    directory = Path(directory)
    config_file, config = read_config(directory, "vilt", [ARCHITECTURE],
                                      f"the ViLT importer reads [{ARCHITECTURE}] checkpoints")
    for field in ("image_size", "patch_size"):
        if not isinstance(config.get(field, 1), int):
            raise CheckpointError(f"[{config_file}] {field} [{config[field]}] is not one integer; the importer "
                                  f"reads square ViLT position tables and patches")
    weights = required(directory, WEIGHT_FILES)
    files = tokenizer_files(directory, [required(directory, ("tokenizer.json", "vocab.txt"))])
    processor_file = required(directory, ("preprocessor_config.json",))

    model = load_model(transformers.ViltForImageAndTextRetrieval, directory, weights)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(directory, local_files_only=True)
    check_vocabulary(tokenizer, files[0], config_file, "vocab_size", model.config.vocab_size)
    processor = load_processor(transformers.ViltImageProcessorPil, directory, processor_file)
    _check_processor(processor, processor_file, model.config, config_file)
    checkpoint = Checkpoint(directory, model, tokenizer, processor, [config_file, weights, *files, processor_file])
    _check_image_length(checkpoint, config_file)
    return checkpoint


def _check_processor(processor, processor_file: Path, config, config_file: Path) -> None:
    """Refuse what the bundle's image rule cannot express: it resizes by the shortest edge with PIL
    bicubic (no crop), floors both sides to ``size_divisor``, rescales and normalises."""
    check_steps(processor, processor_file, {"do_resize": True, "do_rescale": True, "do_normalize": True,
                                            "resample": PIL_BICUBIC})
    edge = getattr(processor.size, "shortest_edge", None)
    if not isinstance(edge, int) or edge <= 0:
        raise CheckpointError(f"[{processor_file}] size [{_size_dict(processor.size)}] has no positive shortest_edge; "
                              f"ViLT's resize reads only that")
    divisor, patch = processor.size_divisor, config.patch_size
    if not isinstance(divisor, int) or divisor <= 0 or divisor % patch:
        raise CheckpointError(f"[{processor_file}] size_divisor [{divisor}] is not a positive multiple of "
                              f"[{config_file}] patch_size [{patch}]: images would end in partial patches")
    if divisor > edge:
        raise CheckpointError(f"[{processor_file}] size_divisor [{divisor}] exceeds shortest_edge [{edge}]: "
                              f"every image would be resized to nothing")
    for field in ("image_mean", "image_std"):
        values = getattr(processor, field)
        if values is None or len(values) != 3:
            raise CheckpointError(f"[{processor_file}] {field} [{values}] must have one value per RGB channel")
    if config.num_channels != 3:
        raise CheckpointError(f"[{config_file}] num_channels [{config.num_channels}] is not 3 (RGB)")


def _size_dict(size) -> dict:
    return {k: v for k, v in dict(size).items() if v is not None} if hasattr(size, "keys") else size


def _check_image_length(checkpoint: Checkpoint, config_file: Path) -> None:
    """``max_image_length`` below the largest image's patch count makes the source forward sample a
    random subset of patches; unset (-1, ViltConfig's default) or at least that count, it keeps all."""
    limit = checkpoint.model.config.max_image_length
    most = image_token_range(checkpoint)[1] - 1
    if isinstance(limit, int) and 0 <= limit < most:
        h, w = largest_image(checkpoint)
        raise CheckpointError(f"[{config_file}] max_image_length [{limit}] is below the [{most}] patches of the largest "
                              f"image the processor makes ({h} x {w}): the source forward would keep a random subset "
                              f"of an image's patches, which a bundle cannot reproduce")


def max_tokens(checkpoint: Checkpoint) -> int:
    """ViLT's text length (``max_position_embeddings``, its ``max_text_len``), within the tokenizer's limit."""
    return hf_checkpoint.max_tokens(checkpoint.tokenizer, checkpoint.model.config.max_position_embeddings)


def resize_rule(checkpoint: Checkpoint) -> tuple[int, int, int]:
    """(shortest_edge, longest_edge, size_divisor) as ``ViltImageProcessorPil.resize`` uses them."""
    shortest = checkpoint.processor.size.shortest_edge
    return shortest, int(MAX_LONGER_EDGE / MAX_SHORTER_EDGE * shortest), checkpoint.processor.size_divisor


def output_size(checkpoint: Checkpoint, height: int, width: int) -> tuple[int, int]:
    """The processor's own output size for an input of ``height`` x ``width``."""
    shortest, longest, divisor = resize_rule(checkpoint)
    return get_resize_output_image_size(np.empty((3, height, width), dtype=np.uint8), shorter=shortest, longer=longest,
                                        size_divisor=divisor, input_data_format=ChannelDimension.FIRST)


def largest_image(checkpoint: Checkpoint) -> tuple[int, int]:
    """The largest output: the short side at ``shortest_edge``, the long side at ``longest_edge``
    (an input of aspect ratio longest / shortest), both floored to ``size_divisor``."""
    shortest, longest, divisor = resize_rule(checkpoint)
    return shortest // divisor * divisor, longest // divisor * divisor


def image_token_range(checkpoint: Checkpoint) -> tuple[int, int]:
    """(fewest, most) image token rows: 1 + patches. The resize gives either the short side at
    ``shortest_edge`` and the long side between it and ``longest_edge``, or (for inputs more
    elongated than longest / shortest) the long side at ``longest_edge`` and the short side anywhere
    below ``shortest_edge``, floored to ``size_divisor`` (a side floored to 0 is an image the
    processor cannot make)."""
    short, long = largest_image(checkpoint)
    divisor, patch = checkpoint.processor.size_divisor, checkpoint.model.config.patch_size
    fewest = min((short // patch) ** 2, (divisor // patch) * (long // patch))
    return 1 + fewest, 1 + (short // patch) * (long // patch)


def graph_specs(checkpoint: Checkpoint) -> dict:
    """Names, dtypes and shapes of each graph's tensors; strings are dynamic axes."""
    width = checkpoint.model.config.hidden_size
    text = [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "tokens"]},
            {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "tokens"]}]
    text_features = {"dtype": "float32", "shape": ["batch", "tokens", width]}
    image_features = {"dtype": "float32", "shape": ["batch", "image_tokens", width]}
    return {
        "image_encoder": {
            "inputs": [{"name": "pixels", "dtype": "float32", "shape": ["batch", 3, "height", "width"]}],
            "outputs": [{"name": "token_features", **image_features}],
        },
        "text_encoder": {"inputs": text, "outputs": [{"name": "token_features", **text_features}]},
        "fusion_itm": {
            "inputs": [{"name": "text_features", **text_features},
                       {"name": "text_mask", "dtype": "int64", "shape": ["batch", "tokens"]},
                       {"name": "image_features", **image_features},
                       {"name": "image_mask", "dtype": "int64", "shape": ["batch", "image_tokens"]}],
            "outputs": [{"name": "itm_logits", "dtype": "float32", "shape": ["batch", 2]}],
        },
    }


def single_stream_flops(width: int, ffn_width: int, layers: int, tokens: int) -> int:
    """Multiply-adds x2 of one pass of a single-stream transformer over ``tokens`` rows (text and
    image together), as ``model.fusion_flops`` counts them: per layer the q, k, v and output
    projections (4 n w²), the attention scores and the weighted sum (2 n² w) and the FFN
    (2 n w f); then the pooler on the [CLS] row (w²) and the rank head (w). LayerNorms, softmax,
    GELU and the embeddings' additions are left out, as there."""
    n, w = tokens, width
    per_layer = 4 * n * w * w + 2 * n * n * w + 2 * n * w * ffn_width
    return 2 * (layers * per_layer + w * w + w)


def fusion_flops_per_pair(checkpoint: Checkpoint, text_tokens: int, image_tokens: int) -> int:
    """:func:`single_stream_flops` of the checkpoint's transformer on one pair: every candidate pair
    runs all of it, text rows included."""
    cfg = checkpoint.model.config
    return single_stream_flops(cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, text_tokens + image_tokens)


def preprocess(checkpoint: Checkpoint, path: Path) -> torch.Tensor:
    """One image through ``ViltImageProcessorPil`` alone (no batch padding: its pixel mask is all ones)."""
    out = checkpoint.processor(Image.open(path), return_tensors="pt")
    assert bool(out["pixel_mask"].all()), "a single image is never padded"
    return out["pixel_values"].float()


@torch.no_grad()
def source_image_features(model, pixels: torch.Tensor) -> torch.Tensor:
    """The image rows of the source's single-stream input for images of one size: ``visual_embed``
    (all pixels valid) + ``token_type_embeddings(1)``, as ``ViltEmbeddings.forward`` computes them,
    with the patches put back in row-major order by the ``patch_index`` ``visual_embed`` returns."""
    emb = model.vilt.embeddings
    mask = torch.ones(pixels.shape[0], *pixels.shape[2:], dtype=torch.long)
    rows, row_mask, (patch_index, _) = emb.visual_embed(pixels, mask, max_image_length=model.config.max_image_length)
    rows = rows + emb.token_type_embeddings(torch.full_like(row_mask, 1, dtype=torch.long))
    grid_width = pixels.shape[3] // model.config.patch_size
    order = (patch_index[..., 0] * grid_width + patch_index[..., 1]).argsort(dim=1)
    patches = torch.gather(rows[:, 1:], 1, order[..., None].expand(-1, -1, rows.shape[2]))
    return torch.cat([rows[:, :1], patches], dim=1)


@torch.no_grad()
def source_text_features(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The text rows of ``ViltEmbeddings.forward`` (its PART 1 and 3), via the forward itself."""
    emb = model.vilt.embeddings
    pixels = torch.zeros(ids.shape[0], 3, model.config.patch_size, model.config.patch_size)
    embeddings, _ = emb(ids, mask, None, pixels, torch.ones(ids.shape[0], *pixels.shape[2:], dtype=torch.long),
                        None, None, image_token_type_idx=1)
    return embeddings[:, :ids.shape[1]]


@torch.no_grad()
def source_logits(model, ids: torch.Tensor, mask: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """``ViltForImageAndTextRetrieval.forward``'s logit of one image with every caption: [captions]."""
    n = ids.shape[0]
    out = model(input_ids=ids, attention_mask=mask, pixel_values=pixels.expand(n, -1, -1, -1),
                pixel_mask=torch.ones(n, *pixels.shape[2:], dtype=torch.long))
    return out.logits[:, 0]


@torch.no_grad()
def write_reference(checkpoint: Checkpoint, bundle: Path, limit: int) -> dict:
    """Generated images of several sizes and captions with the source's own outputs: each image's
    pixels from ``ViltImageProcessorPil`` at its own size, ids from the checkpoint's tokenizer, token
    features from ``ViltEmbeddings`` (image rows put in row-major order), and the retrieval logit of
    every image x caption from ``ViltForImageAndTextRetrieval.forward`` with its own ``visual_embed``."""
    model = checkpoint.model
    paths = reference_images(bundle / "reference" / "images")
    ids, mask = tokenize(checkpoint.tokenizer, REFERENCE_CAPTIONS, limit)
    arrays = {"input_ids": ids, "attention_mask": mask, "text_token_features": source_text_features(model, ids, mask)}
    sizes, logits = [], []
    for i, path in enumerate(paths):
        pixels = preprocess(checkpoint, path)
        sizes.append(list(pixels.shape[2:]))
        arrays[f"pixels_{i}"] = pixels
        arrays[f"image_token_features_{i}"] = source_image_features(model, pixels)
        logits.append(source_logits(model, ids, mask, pixels))
    logits = torch.stack(logits)
    arrays["image_sizes"] = torch.tensor(sizes, dtype=torch.long)
    arrays["itm_logits"] = torch.stack([torch.zeros_like(logits), logits], dim=-1)
    return hf_checkpoint.write_reference(bundle, paths, arrays, checkpoint.tokenizer, limit, {
        "pixels_layout": "pixels_<i>: image i at its own processed size, [1, 3, height, width]; "
                         "image_sizes: [image, (height, width)]",
        "image_token_features_layout": "image_token_features_<i>: [1, 1 + patches, width], "
                                       "class token then patches in row-major order",
        "text_token_features_layout": "[caption, tokens, width]",
        "itm_logits_layout": "[image, caption, (0, rank_output logit)]",
        "source": f"transformers {transformers.__version__} {ARCHITECTURE}.forward(input_ids, attention_mask, "
                  f"pixel_values, pixel_mask).logits[:, 0], one image with every caption; token features from "
                  f"ViltEmbeddings (visual_embed + token_type_embeddings)"})


def onnx_parity(bundle: Path, ref: dict) -> dict:
    """The exported graphs in ONNX Runtime on the reference inputs: max abs diff vs the source's
    outputs (token features, and the logits of every image x caption, all images' candidates
    padded into one fusion batch as the runtime pads them)."""
    ids, mask = ref["input_ids"].numpy(), ref["attention_mask"].numpy()
    (text,) = session(bundle, "text_encoder").run(None, {"input_ids": ids, "attention_mask": mask})
    image_encoder = session(bundle, "image_encoder")
    n_img, n_txt = len(ref["image_sizes"]), ids.shape[0]
    images = [image_encoder.run(None, {"pixels": ref[f"pixels_{i}"].numpy()})[0] for i in range(n_img)]
    longest = max(f.shape[1] for f in images)
    padded = np.zeros((n_img, longest, text.shape[2]), dtype=np.float32)
    image_mask = np.zeros((n_img, longest), dtype=np.int64)
    for i, f in enumerate(images):
        padded[i, :f.shape[1]], image_mask[i, :f.shape[1]] = f[0], 1
    (logits,) = session(bundle, "fusion_itm").run(None, {
        "text_features": np.tile(text, (n_img, 1, 1)), "text_mask": np.tile(mask, (n_img, 1)),
        "image_features": np.repeat(padded, n_txt, axis=0), "image_mask": np.repeat(image_mask, n_txt, axis=0)})
    return {"image_token_features": max(max_abs_diff(f, ref[f"image_token_features_{i}"])
                                        for i, f in enumerate(images)),
            "text_token_features": max_abs_diff(text, ref["text_token_features"]),
            "itm_logits": max_abs_diff(logits.reshape(n_img, n_txt, 2), ref["itm_logits"])}


def image_section(checkpoint: Checkpoint) -> dict:
    processor = checkpoint.processor
    shortest, longest, divisor = resize_rule(checkpoint)
    section = {"resize": "pil_bicubic", "shortest_edge": shortest, "longest_edge": longest, "size_divisor": divisor,
               "output_size": "transformers' ViLT get_resize_output_image_size(shorter=shortest_edge, "
                              "longer=longest_edge, size_divisor): the short side to shortest_edge, the long side "
                              "scaled alike and capped at longest_edge, both rounded half up, then floored to size_divisor",
               "center_crop": False, "rescale": float(processor.rescale_factor),
               "mean": [float(m) for m in processor.image_mean], "std": [float(v) for v in processor.image_std],
               "alpha": "pil_convert_rgb", "exif_orientation": False, "channel_order": "RGB", "layout": "NCHW",
               "processor": "ViltImageProcessorPil", "patch_size": checkpoint.model.config.patch_size}
    if not processor.do_convert_rgb:
        # The processor converts nothing and raises on any image that is not 3-channel RGB;
        # convert("RGB") is the identity on those, and is what ViLT's own data loaders apply.
        section["alpha_source"] = ("do_convert_rgb unset: the processor accepts 3-channel RGB images only, on which "
                                   "pil_convert_rgb is the identity")
    return section


def import_bundle(source: Path, out: Path, name: str | None = None, codec: str = "int8") -> dict:
    """Read the checkpoint directory ``source``, write the bundle to ``out``; returns the manifest."""
    checkpoint, limit = start_bundle(source, out, codec, read_checkpoint, max_tokens)
    model = checkpoint.model
    cfg = model.config

    specs = graph_specs(checkpoint)
    short, long = largest_image(checkpoint)
    ids, mask, pixels = export_inputs(checkpoint.tokenizer, limit, short, long)
    with torch.no_grad():
        image = ImageGraph(model)(pixels)
        text = TextGraph(model)(ids, mask)
    image_mask = torch.ones_like(image[:, :, 0], dtype=torch.long)
    image_mask[1, -3:] = 0  # a padded candidate: the mask is an input, not folded
    export_graph(ImageGraph(model), (pixels,), specs["image_encoder"], out / "image_encoder.onnx")
    export_graph(TextGraph(model), (ids, mask), specs["text_encoder"], out / "text_encoder.onnx")
    export_graph(FusionGraph(model), (text, mask, image, image_mask), specs["fusion_itm"], out / "fusion_itm.onnx")

    ref = write_reference(checkpoint, out, limit)
    parity = onnx_parity(out, ref)
    fewest, most = image_token_range(checkpoint)
    flops_h, flops_w = output_size(checkpoint, *FLOPS_IMAGE)
    flops_tokens = 1 + (flops_h // cfg.patch_size) * (flops_w // cfg.patch_size)
    width = cfg.hidden_size
    manifest = {
        "format_version": BUNDLE_FORMAT,
        "name": name or out.name,
        "model": model_section(checkpoint, "vilt", ARCHITECTURE),
        "token_features": {"width": width, "feature_layers": 1, "image_tokens": most, "image_tokens_min": fewest,
                           "image_tokens_rule": f"1 + (s / patch_size) x (l / patch_size) for the largest output "
                                                f"s x l = {short} x {long} (shortest_edge and longest_edge floored to "
                                                f"size_divisor); the fewest: a {checkpoint.processor.size_divisor}-px "
                                                f"short side at the {long}-px long side",
                           "layout": "[tokens = feature_layers x tokens_per_layer, width], layer-major; image rows: "
                                     "class token, then patches in row-major order",
                           "codec": codec, "codecs": list(CODECS)},
        "text": text_section(checkpoint.tokenizer, limit, cfg.vocab_size),
        "image": image_section(checkpoint),
        "graphs": {key: {"file": f"{key}.onnx", "opset": OPSET, **spec} for key, spec in specs.items()},
        "fusion": fusion_section(FUSION_INPUTS, embedding=False),
        "score": SCORE,
        "rerank": {"score_mode": "itm", "first_stage": "another bundle's embedding: ViLT has no ITC head",
                   "chosen_by": "ViLT ranks retrieval candidates by its rank_output logit (ViLT, section 4.3)"},
        "fusion_flops_per_pair": fusion_flops_per_pair(checkpoint, limit, flops_tokens),
        "fusion_flops_basis": {"text_tokens": limit, "image_tokens": flops_tokens,
                               "image": f"a {FLOPS_IMAGE[0]} x {FLOPS_IMAGE[1]} (height x width) input, which the "
                                        f"processor makes {flops_h} x {flops_w}",
                               "largest_image_flops": fusion_flops_per_pair(checkpoint, limit, most)},
        "bytes_per_image": bytes_per_item(1, most, width),
        "bytes_per_image_tokens": most,
        "export_check": {"onnxruntime": ort.__version__, "max_abs_diff_vs_source": parity},
        "files": file_entries(out),
    }
    return write_manifest(out, manifest)
