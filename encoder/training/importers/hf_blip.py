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

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import transformers
from PIL import Image
from safetensors import SafetensorError
from torch import nn
from torch.nn.functional import normalize

from bundle_io import BUNDLE_FORMAT, OPSET, ReferenceWriter, export_graph, file_entries, sha256
from feature_codec import CODECS, bytes_per_item
from fusion_contract import check_manifest, fusion_section
from importers import CheckpointError
from importers.reference_inputs import reference_images
from model import fusion_flops
from retrieval_eval import SCORE
from tokenizer import FIXTURE_TEXTS

ARCHITECTURE = "BlipForImageTextRetrieval"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# BLIP's retrieval evaluation tokenizes captions to at most 35 tokens (train_retrieval.py: max_length=35);
# the Hugging Face checkpoints keep BERT's 512 in their tokenizer config.
BLIP_RETRIEVAL_MAX_TOKENS = 35
FUSION_INPUTS = {"input_ids": "text.token_ids", "attention_mask": "text.attention_mask",
                 "image_features": "image.token_features"}
PIL_BICUBIC = 3  # PIL.Image.Resampling.BICUBIC, as preprocessor_config.json spells it
REFERENCE_CAPTIONS = ("a red circle on the left", "a small dog riding a horse", "the man at a cafe",
                      "large blue squares and green stars")


@dataclass
class Checkpoint:
    directory: Path
    model: nn.Module
    tokenizer: object
    processor: object
    files: list[Path]


class ImageGraph(nn.Module):
    """pixels -> (ITC embedding, token features), as ``BlipForImageTextRetrieval.forward``'s vision path."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        hidden = self.model.vision_model(pixel_values=pixels).last_hidden_state
        return normalize(self.model.vision_proj(hidden[:, 0, :]), dim=-1), hidden


class TextGraph(nn.Module):
    """ids, mask -> ITC embedding: the forward's ``use_itm_head=False`` text path."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        hidden = self.model.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return normalize(self.model.text_proj(hidden[:, 0, :]), dim=-1)


class ItmGraph(nn.Module):
    """ids, mask, image token features -> ITM logits: the forward's ``use_itm_head=True`` path
    with the image encoder's output supplied (every image token attended, as the forward does)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

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
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory [{directory}] does not exist")
    config_file = _required(directory, ("config.json",))
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"[{config_file}] is not JSON: {e}") from e
    architectures = config.get("architectures") or []
    if config.get("model_type") != "blip" or ARCHITECTURE not in architectures:
        raise CheckpointError(f"[{config_file}] describes model_type [{config.get('model_type')}] with architectures "
                              f"{architectures}; the BLIP importer reads [{ARCHITECTURE}] checkpoints")
    weights = _required(directory, WEIGHT_FILES)
    tokenizer_files = [_required(directory, ("tokenizer.json", "vocab.txt"))]
    tokenizer_files += [p for p in (directory / "tokenizer_config.json", directory / "special_tokens_map.json") if p.is_file()]
    processor_file = _required(directory, ("preprocessor_config.json",))

    try:
        model, info = transformers.BlipForImageTextRetrieval.from_pretrained(
            directory, local_files_only=True, output_loading_info=True, attn_implementation="eager")
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError, SafetensorError) as e:
        raise CheckpointError(f"[{weights}] could not be loaded as {ARCHITECTURE}: {e}") from e
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        keys = sorted(str(k) for k in info.get(kind) or [])
        if keys:
            raise CheckpointError(f"[{weights}] has {kind.replace('_', ' ')} {keys[:8]}"
                                  f"{f' and {len(keys) - 8} more' if len(keys) > 8 else ''}")
    model.eval()
    tokenizer = transformers.BertTokenizerFast.from_pretrained(directory, local_files_only=True)
    vocab_size = model.config.text_config.vocab_size
    largest = max(tokenizer.get_vocab().values())
    if largest >= vocab_size:
        token = tokenizer.convert_ids_to_tokens(largest)
        raise CheckpointError(f"tokenizer [{tokenizer_files[0]}] gives token [{token}] the id [{largest}], outside "
                              f"[{config_file}] text_config.vocab_size [{vocab_size}]")
    # The PIL backend explicitly: transformers 5 prefers a torchvision one where installed, whose
    # resize differs from the PIL bicubic these models were trained with.
    processor = transformers.BlipImageProcessorPil.from_pretrained(directory, local_files_only=True)
    steps = {"do_resize": True, "do_rescale": True, "do_normalize": True, "do_convert_rgb": True,
             "resample": PIL_BICUBIC}
    for field, expected in steps.items():
        if getattr(processor, field) != expected:
            raise CheckpointError(f"[{processor_file}] {field} [{getattr(processor, field)}] is not supported "
                                  f"(the bundle's image rule needs [{expected}])")
    size = model.config.vision_config.image_size
    if (processor.size.get("height"), processor.size.get("width")) != (size, size):
        raise CheckpointError(f"[{processor_file}] size [{processor.size}] is not the vision model's "
                              f"image_size [{size}] from [{config_file}]")
    return Checkpoint(directory, model, tokenizer, processor, [config_file, weights, *tokenizer_files, processor_file])


def _required(directory: Path, names: tuple[str, ...]) -> Path:
    """The first of ``names`` present in ``directory``."""
    for name in names:
        if (directory / name).is_file():
            return directory / name
    raise CheckpointError(f"checkpoint directory [{directory}] has no {' or '.join(f'[{n}]' for n in names)}")


def max_tokens(checkpoint: Checkpoint) -> int:
    """BLIP's retrieval limit, within what the text model and the tokenizer allow."""
    limits = [BLIP_RETRIEVAL_MAX_TOKENS, checkpoint.model.config.text_config.max_position_embeddings]
    if checkpoint.tokenizer.model_max_length and checkpoint.tokenizer.model_max_length < 1_000_000:
        limits.append(checkpoint.tokenizer.model_max_length)
    return min(limits)


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


def tokenize(checkpoint: Checkpoint, texts, limit: int):
    encoded = checkpoint.tokenizer(list(texts), padding="longest", truncation=True, max_length=limit, return_tensors="pt")
    return encoded["input_ids"].long(), encoded["attention_mask"].long()


@torch.no_grad()
def write_reference(checkpoint: Checkpoint, bundle: Path, limit: int) -> dict:
    """Generated images and captions with the source's own outputs: pixels from
    ``BlipImageProcessorPil``, ids from the checkpoint's tokenizer, ITC vectors from the model's
    modules, the ITC similarity and the ITM logits of every image x caption from
    ``BlipForImageTextRetrieval.forward`` (``use_itm_head`` False and True)."""
    model = checkpoint.model
    paths = reference_images(bundle / "reference" / "images")
    images = [p.relative_to(bundle).as_posix() for p in paths]
    pixels = checkpoint.processor([Image.open(p) for p in paths], return_tensors="pt")["pixel_values"].float()
    ids, mask = tokenize(checkpoint, REFERENCE_CAPTIONS, limit)
    vision = model.vision_model(pixel_values=pixels).last_hidden_state
    image_embedding = normalize(model.vision_proj(vision[:, 0, :]), dim=-1)
    text = model.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    text_embedding = normalize(model.text_proj(text[:, 0, :]), dim=-1)
    n_img, n_txt = len(paths), len(REFERENCE_CAPTIONS)
    pair_pixels, pair_ids, pair_mask = pixels.repeat_interleave(n_txt, 0), ids.repeat(n_img, 1), mask.repeat(n_img, 1)
    logits = model(input_ids=pair_ids, pixel_values=pair_pixels, attention_mask=pair_mask, use_itm_head=True).itm_score
    similarity = model(input_ids=ids, pixel_values=pixels, attention_mask=mask, use_itm_head=False).itm_score
    ref = ReferenceWriter(bundle / "reference")
    arrays = {"pixels": pixels, "image_embedding": image_embedding, "image_token_features": vision,
              "input_ids": ids, "attention_mask": mask, "text_embedding": text_embedding,
              "itc_similarity": similarity, "itm_logits": logits.view(n_img, n_txt, 2)}
    for name, value in arrays.items():
        ref.add(name, value)
    write_tokenizer_fixture(checkpoint, bundle / "reference" / "tokenizer_fixture.json", limit)
    reference = {"images": images, "captions": list(REFERENCE_CAPTIONS), "arrays": ref.index,
                 "itm_logits_layout": "[image, caption, (no_match, match)]",
                 "itc_similarity_layout": "[image, caption]",
                 "source": f"transformers {transformers.__version__} {ARCHITECTURE}.forward",
                 "tokenizer_fixture": "reference/tokenizer_fixture.json"}
    (bundle / "reference" / "reference.json").write_text(json.dumps(reference, indent=1) + "\n", encoding="utf-8")
    return arrays


def write_tokenizer_fixture(checkpoint: Checkpoint, path: Path, limit: int) -> None:
    """Texts and the ids the checkpoint's own tokenizer gives them (truncated to ``limit``): what
    a Java tokenizer reading the bundle's tokenizer.json must reproduce."""
    cases = [{"text": t, "ids": checkpoint.tokenizer(t, truncation=True, max_length=limit)["input_ids"]}
             for t in FIXTURE_TEXTS]
    fixture = {"tokenizer": "tokenizer.json", "max_tokens": limit, "preprocessing": "tokenizer_json",
               "cases": cases}
    path.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def onnx_parity(bundle: Path, ref: dict) -> dict:
    """The exported graphs in ONNX Runtime on the reference inputs: max abs diff vs the source's
    outputs (ITC vectors, their dot products vs the forward's similarity, ITM logits)."""
    def session(name):
        return ort.InferenceSession(str(bundle / f"{name}.onnx"), providers=["CPUExecutionProvider"])

    ids, mask = ref["input_ids"].numpy(), ref["attention_mask"].numpy()
    img_emb, img_feat = session("image_encoder").run(None, {"pixels": ref["pixels"].numpy()})
    (txt_emb,) = session("text_encoder").run(None, {"input_ids": ids, "attention_mask": mask})
    n_img, n_txt = img_emb.shape[0], txt_emb.shape[0]
    (logits,) = session("fusion_itm").run(None, {
        "input_ids": np.tile(ids, (n_img, 1)), "attention_mask": np.tile(mask, (n_img, 1)),
        "image_features": np.repeat(img_feat, n_txt, axis=0)})
    diff = lambda a, b: float(np.abs(a - b.detach().numpy()).max())  # noqa: E731
    return {"image_embedding": diff(img_emb, ref["image_embedding"]),
            "image_token_features": diff(img_feat, ref["image_token_features"]),
            "text_embedding": diff(txt_emb, ref["text_embedding"]),
            "itc_similarity": diff(img_emb @ txt_emb.T, ref["itc_similarity"]),
            "itm_logits": diff(logits.reshape(n_img, n_txt, 2), ref["itm_logits"])}


def write_tokenizer(checkpoint: Checkpoint, path: Path) -> None:
    """The fast tokenizer's own tokenizer.json (normalizer, pre-tokenizer, WordPiece, post-processor),
    with truncation and padding off: the manifest's ``max_tokens`` governs length."""
    backend = checkpoint.tokenizer.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    backend.save(str(path))


def import_bundle(source: Path, out: Path, name: str | None = None, codec: str = "int8") -> dict:
    """Read the checkpoint directory ``source``, write the bundle to ``out``; returns the manifest."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec [{codec}]; valid codecs: {list(CODECS)}")
    checkpoint = read_checkpoint(source)
    model, processor = checkpoint.model, checkpoint.processor
    cfg = model.config
    limit = max_tokens(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    write_tokenizer(checkpoint, out / "tokenizer.json")

    specs = graph_specs(checkpoint)
    s = cfg.vision_config.image_size
    ids, mask = tokenize(checkpoint, ["a red circle", "a large blue square left of a small red star"], limit)
    pixels = torch.zeros(2, 3, s, s)
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
        "model": {"family": "blip", "architecture": ARCHITECTURE, "config": cfg.to_dict(),
                  "parameters": sum(p.numel() for p in model.parameters()),
                  "source": {"directory": str(checkpoint.directory),
                             "files": {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size} for p in checkpoint.files},
                             "transformers": transformers.__version__, "torch": torch.__version__}},
        "embedding": {"dim": cfg.image_text_hidden_size, "normalized": True, "similarity": "dot_product"},
        "token_features": {"width": width, "feature_layers": 1, "image_tokens": tokens,
                           "layout": "[tokens = feature_layers x tokens_per_layer, width], layer-major",
                           "codec": codec, "codecs": list(CODECS)},
        "text": {"tokenizer": "tokenizer.json", "max_tokens": limit, "preprocessing": "tokenizer_json",
                 "tokenizer_class": type(checkpoint.tokenizer).__name__, "vocab_size": cfg.text_config.vocab_size,
                 "pad_id": checkpoint.tokenizer.pad_token_id, "cls_id": checkpoint.tokenizer.cls_token_id,
                 "sep_id": checkpoint.tokenizer.sep_token_id},
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
    check_manifest(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest
