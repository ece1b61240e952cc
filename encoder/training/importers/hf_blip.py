"""Hugging Face ``BlipForImageTextRetrieval`` checkpoints (BLIP, Li et al. 2022) -> fuserank bundle.

BLIP's retrieval model has three parts the bundle maps one to one:

* image encoder: the ViT's last hidden state (``[batch, 1 + patches, width]``, 577 x 768 for
  BLIP-base at 384 px) is what the ITM cross-attends to, so it is the stored token features; the
  ITC vector is ``normalize(vision_proj(CLS))``.
* text encoder: BERT in unimodal mode (no cross-attention); the ITC vector is
  ``normalize(text_proj(CLS))``. It has no token-feature output: BLIP's ITM does not read one.
* fusion: the image-grounded text encoder, the same BERT with cross-attention in every layer,
  run from the token ids and mask over the image token features; ``itm_head(CLS)`` gives the
  logits ``[no_match, match]``.

Everything is computed by the model's own modules, exactly as ``BlipForImageTextRetrieval.forward``
does; the reference outputs come from that forward itself. One difference from BLIP's own code:
BLIP's retrieval evaluation (``train_retrieval.py``) replaces the first token with ``[ENC]``
before the ITM, while the Hugging Face forward runs the ITM on the ids as tokenized
(``[CLS]`` first). The bundle reproduces the Hugging Face forward, which is the checkpoint's
published interface.

The retrieval score is BLIP's (``train_retrieval.py``'s evaluation): ITM match logit + ITC cosine,
i.e. ``itm_plus_itc`` with ``itc_weight`` 1 (docs/scores.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import transformers
from PIL import Image
from torch.nn.functional import normalize

from bundle_io import BUNDLE_FORMAT, OPSET, export_graph, file_entries
from feature_codec import CODECS, bytes_per_item
from fusion_contract import fusion_section
from importers import CheckpointError, hf_checkpoint
from importers.hf_checkpoint import (PIL_BICUBIC, REFERENCE_CAPTIONS, WEIGHT_FILES, Checkpoint, ModelGraph,
                                     check_steps, check_vocabulary, export_inputs, load_model, load_processor,
                                     max_abs_diff, model_section, read_config, required, session, start_bundle,
                                     text_section, tokenize, tokenizer_files, write_manifest)
from importers.reference_inputs import reference_images
from model import fusion_flops
from retrieval_eval import SCORE

ARCHITECTURE = "BlipForImageTextRetrieval"
# BLIP's retrieval evaluation tokenizes captions to at most 35 tokens (train_retrieval.py: max_length=35);
# the Hugging Face checkpoints keep BERT's 512 in their tokenizer config.
BLIP_RETRIEVAL_MAX_TOKENS = 35
FUSION_INPUTS = {"input_ids": "text.token_ids", "attention_mask": "text.attention_mask",
                 "image_features": "image.token_features"}


class ImageGraph(ModelGraph):
    """pixels -> (ITC embedding, token features), as ``BlipForImageTextRetrieval.forward``'s vision path."""

    def forward(self, pixels):
        hidden = self.model.vision_model(pixel_values=pixels).last_hidden_state
        return normalize(self.model.vision_proj(hidden[:, 0, :]), dim=-1), hidden


class TextGraph(ModelGraph):
    """ids, mask -> ITC embedding: the forward's ``use_itm_head=False`` text path."""

    def forward(self, input_ids, attention_mask):
        hidden = self.model.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return normalize(self.model.text_proj(hidden[:, 0, :]), dim=-1)


class ItmGraph(ModelGraph):
    """ids, mask, image token features -> ITM logits: the forward's ``use_itm_head=True`` path
    with the image encoder's output supplied (every image token attended, as the forward does)."""

    def forward(self, input_ids, attention_mask, image_features):
        image_mask = torch.ones_like(image_features[:, :, 0], dtype=torch.long)
        hidden = self.model.text_encoder(input_ids=input_ids, attention_mask=attention_mask,
                                         encoder_hidden_states=image_features,
                                         encoder_attention_mask=image_mask).last_hidden_state
        return self.model.itm_head(hidden[:, 0, :])


def read_checkpoint(directory: Path) -> Checkpoint:
    """Load model, tokenizer and image processor from local files only; every defect is a
    ``CheckpointError`` naming the file or field."""
    directory = Path(directory)
    config_file, _ = read_config(directory, "blip", [ARCHITECTURE],
                                 f"the BLIP importer reads [{ARCHITECTURE}] checkpoints")
    weights = required(directory, WEIGHT_FILES)
    files = tokenizer_files(directory, [required(directory, ("tokenizer.json", "vocab.txt"))])
    processor_file = required(directory, ("preprocessor_config.json",))

    model = load_model(transformers.BlipForImageTextRetrieval, directory, weights)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(directory, local_files_only=True)
    check_vocabulary(tokenizer, files[0], config_file, "text_config.vocab_size", model.config.text_config.vocab_size)
    processor = load_processor(transformers.BlipImageProcessorPil, directory, processor_file)
    check_steps(processor, processor_file, {"do_resize": True, "do_rescale": True, "do_normalize": True,
                                            "do_convert_rgb": True, "resample": PIL_BICUBIC})
    size = model.config.vision_config.image_size
    if (processor.size.get("height"), processor.size.get("width")) != (size, size):
        raise CheckpointError(f"[{processor_file}] size [{processor.size}] is not the vision model's "
                              f"image_size [{size}] from [{config_file}]")
    return Checkpoint(directory, model, tokenizer, processor, [config_file, weights, *files, processor_file])


def max_tokens(checkpoint: Checkpoint) -> int:
    """BLIP's retrieval limit, within what the text model and the tokenizer allow."""
    return hf_checkpoint.max_tokens(checkpoint.tokenizer, BLIP_RETRIEVAL_MAX_TOKENS,
                                    checkpoint.model.config.text_config.max_position_embeddings)


def graph_specs(checkpoint: Checkpoint) -> dict:
    """Names, dtypes and shapes of each graph's tensors; strings are dynamic axes."""
    cfg = checkpoint.model.config
    s, d = cfg.vision_config.image_size, cfg.image_text_hidden_size
    tokens, width = image_tokens(checkpoint), cfg.vision_config.hidden_size
    text = [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "tokens"]},
            {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "tokens"]}]
    return {
        "image_encoder": {
            "inputs": [{"name": "pixels", "dtype": "float32", "shape": ["batch", 3, s, s]}],
            "outputs": [{"name": "embedding", "dtype": "float32", "shape": ["batch", d]},
                        {"name": "token_features", "dtype": "float32", "shape": ["batch", tokens, width]}],
        },
        "text_encoder": {"inputs": text, "outputs": [{"name": "embedding", "dtype": "float32", "shape": ["batch", d]}]},
        "fusion_itm": {
            "inputs": text + [{"name": "image_features", "dtype": "float32", "shape": ["batch", tokens, width]}],
            "outputs": [{"name": "itm_logits", "dtype": "float32", "shape": ["batch", 2]}],
        },
    }


def image_tokens(checkpoint: Checkpoint) -> int:
    vision = checkpoint.model.config.vision_config
    return 1 + (vision.image_size // vision.patch_size) ** 2


def fusion_flops_per_pair(checkpoint: Checkpoint, text_tokens: int) -> int:
    """``model.fusion_flops`` of BLIP's ITM at ``text_tokens``: its fusion is the whole text
    encoder, so every text layer counts, and keys and values come from the vision width."""
    text, vision = checkpoint.model.config.text_config, checkpoint.model.config.vision_config
    return fusion_flops(text.hidden_size, text.intermediate_size, text.num_hidden_layers, text_tokens,
                        image_tokens(checkpoint), vision.hidden_size)


@torch.no_grad()
def write_reference(checkpoint: Checkpoint, bundle: Path, limit: int) -> dict:
    """Generated images and captions with the source's own outputs: pixels from
    ``BlipImageProcessorPil``, ids from the checkpoint's tokenizer, ITC vectors from the model's
    modules, the ITC similarity and the ITM logits of every image x caption from
    ``BlipForImageTextRetrieval.forward`` (``use_itm_head`` False and True)."""
    model = checkpoint.model
    paths = reference_images(bundle / "reference" / "images")
    pixels = checkpoint.processor([Image.open(p) for p in paths], return_tensors="pt")["pixel_values"].float()
    ids, mask = tokenize(checkpoint.tokenizer, REFERENCE_CAPTIONS, limit)
    vision = model.vision_model(pixel_values=pixels).last_hidden_state
    image_embedding = normalize(model.vision_proj(vision[:, 0, :]), dim=-1)
    text = model.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    text_embedding = normalize(model.text_proj(text[:, 0, :]), dim=-1)
    n_img, n_txt = len(paths), len(REFERENCE_CAPTIONS)
    pair_pixels, pair_ids, pair_mask = pixels.repeat_interleave(n_txt, 0), ids.repeat(n_img, 1), mask.repeat(n_img, 1)
    logits = model(input_ids=pair_ids, pixel_values=pair_pixels, attention_mask=pair_mask, use_itm_head=True).itm_score
    similarity = model(input_ids=ids, pixel_values=pixels, attention_mask=mask, use_itm_head=False).itm_score
    arrays = {"pixels": pixels, "image_embedding": image_embedding, "image_token_features": vision,
              "input_ids": ids, "attention_mask": mask, "text_embedding": text_embedding,
              "itc_similarity": similarity, "itm_logits": logits.view(n_img, n_txt, 2)}
    return hf_checkpoint.write_reference(bundle, paths, arrays, checkpoint.tokenizer, limit, {
        "itm_logits_layout": "[image, caption, (no_match, match)]", "itc_similarity_layout": "[image, caption]",
        "source": f"transformers {transformers.__version__} {ARCHITECTURE}.forward"})


def onnx_parity(bundle: Path, ref: dict) -> dict:
    """The exported graphs in ONNX Runtime on the reference inputs: max abs diff vs the source's
    outputs (ITC vectors, their dot products vs the forward's similarity, ITM logits)."""
    ids, mask = ref["input_ids"].numpy(), ref["attention_mask"].numpy()
    img_emb, img_feat = session(bundle, "image_encoder").run(None, {"pixels": ref["pixels"].numpy()})
    (txt_emb,) = session(bundle, "text_encoder").run(None, {"input_ids": ids, "attention_mask": mask})
    n_img, n_txt = img_emb.shape[0], txt_emb.shape[0]
    (logits,) = session(bundle, "fusion_itm").run(None, {
        "input_ids": np.tile(ids, (n_img, 1)), "attention_mask": np.tile(mask, (n_img, 1)),
        "image_features": np.repeat(img_feat, n_txt, axis=0)})
    return {"image_embedding": max_abs_diff(img_emb, ref["image_embedding"]),
            "image_token_features": max_abs_diff(img_feat, ref["image_token_features"]),
            "text_embedding": max_abs_diff(txt_emb, ref["text_embedding"]),
            "itc_similarity": max_abs_diff(img_emb @ txt_emb.T, ref["itc_similarity"]),
            "itm_logits": max_abs_diff(logits.reshape(n_img, n_txt, 2), ref["itm_logits"])}


def import_bundle(source: Path, out: Path, name: str | None = None, codec: str = "int8") -> dict:
    """Read the checkpoint directory ``source``, write the bundle to ``out``; returns the manifest."""
    checkpoint, limit = start_bundle(source, out, codec, read_checkpoint, max_tokens)
    model, processor = checkpoint.model, checkpoint.processor
    cfg = model.config

    specs = graph_specs(checkpoint)
    s = cfg.vision_config.image_size
    ids, mask, pixels = export_inputs(checkpoint.tokenizer, limit, s, s)
    with torch.no_grad():
        _, features = ImageGraph(model)(pixels)
    export_graph(ImageGraph(model), (pixels,), specs["image_encoder"], out / "image_encoder.onnx")
    export_graph(TextGraph(model), (ids, mask), specs["text_encoder"], out / "text_encoder.onnx")
    export_graph(ItmGraph(model), (ids, mask, features), specs["fusion_itm"], out / "fusion_itm.onnx")

    ref = write_reference(checkpoint, out, limit)
    parity = onnx_parity(out, ref)
    tokens, width = image_tokens(checkpoint), cfg.vision_config.hidden_size
    manifest = {
        "format_version": BUNDLE_FORMAT,
        "name": name or out.name,
        "model": model_section(checkpoint, "blip", ARCHITECTURE),
        "embedding": {"dim": cfg.image_text_hidden_size, "normalized": True, "similarity": "dot_product"},
        "token_features": {"width": width, "feature_layers": 1, "image_tokens": tokens,
                           "layout": "[tokens = feature_layers x tokens_per_layer, width], layer-major",
                           "codec": codec, "codecs": list(CODECS)},
        "text": text_section(checkpoint.tokenizer, limit, cfg.text_config.vocab_size),
        "image": {"size": s, "mean": [float(m) for m in processor.image_mean], "std": [float(v) for v in processor.image_std],
                  "resize": "pil_bicubic", "rescale": float(processor.rescale_factor),
                  "alpha": "pil_convert_rgb", "exif_orientation": False,
                  "channel_order": "RGB", "layout": "NCHW", "processor": "BlipImageProcessorPil"},
        "graphs": {key: {"file": f"{key}.onnx", "opset": OPSET, **spec} for key, spec in specs.items()},
        "fusion": fusion_section(FUSION_INPUTS),
        "score": SCORE,
        "rerank": {"itc_weight": 1.0, "score_mode": "itm_plus_itc",
                   "chosen_by": "BLIP's retrieval evaluation (train_retrieval.py): ITM match logit + ITC cosine"},
        "fusion_flops_per_pair": fusion_flops_per_pair(checkpoint, limit),
        "bytes_per_image": bytes_per_item(1, tokens, width),
        "export_check": {"onnxruntime": ort.__version__, "max_abs_diff_vs_source": parity},
        "files": file_entries(out),
    }
    return write_manifest(out, manifest)
