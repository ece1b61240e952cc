"""ALBEF's released ``.pth`` checkpoints (Li et al. 2021, arXiv 2107.07651) -> fuserank bundle.

ALBEF's ITM reads what our own bundles' fusion graph reads: the text encoder's states after layer
``fusion_layer - 1`` (the query side of text -> image search) and the image encoder's token
features (the stored candidate side). So an ALBEF bundle has exactly the graph names and
signatures of ``export.py``'s bundles, and today's Java runtime serves it unchanged:

* image encoder: ``pixels`` -> ``embedding`` (``normalize(vision_proj(CLS))``) and
  ``token_features`` (the ViT's output after its final LayerNorm, 577 x 768 at 384 px);
* text encoder: ``input_ids``, ``attention_mask`` -> ``embedding`` (``normalize(text_proj(CLS))``)
  and ``token_features`` (the text states the fusion layers start from, ``[batch, tokens, 768]``);
* fusion: ``text_features``, ``text_mask``, ``image_features``, ``image_mask`` -> ``itm_logits``
  (the fusion layers' cross-attention to every image token, ``itm_head`` on the fused [CLS]).

The model is ``families/albef.py`` loaded by ``families/albef_checkpoint.py``; the committed
fixture ``tests/fixtures/albef/`` holds ALBEF's own code's outputs on a random-weight checkpoint,
which that definition reproduces bit for bit (``tests/test_albef.py``), so its forward is the
source's. The retrieval score is ALBEF's (``Retrieval.py::evaluation``): the ITC top-k ranked by
the ITM match logit alone, score mode ``itm`` (docs/scores.md).

One departure, from what Java's ``ImagePreprocessor`` implements: ALBEF decodes with
``convert('RGB')``, which drops alpha, and ignores the EXIF orientation; the bundle's image rule
composites alpha over white and applies the orientation (``data.ImageTransform``). The two agree
on opaque images without an EXIF rotation, which the reference images are.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort
import torch

import data
from bundle_io import BUNDLE_FORMAT, OPSET, export_graph, file_entries, sha256
from export import (FUSION_INPUTS, FusionItmGraph, ImageEncoderGraph, TextEncoderGraph, contract_specs, onnx_parity,
                    save_reference)
from families.albef import AlbefInputs, AlbefRetrieval
from families.albef_checkpoint import load_albef
from feature_codec import CODECS, bytes_per_item
from fusion_contract import check_manifest, fusion_section
from importers import CheckpointError
from importers.reference_inputs import reference_images
from model import fusion_flops
from retrieval_eval import SCORE
from tokenizer import FIXTURE_TEXTS

# The ALBEF commit whose code families/albef.py was verified against (tests/fixtures/albef/).
ALBEF_REPOSITORY = "github.com/salesforce/ALBEF"
ALBEF_COMMIT = "b9727e43c3040491774d1b22cc27718aa7772fac"
BERT_CONFIG_NAME = "config_bert.json"
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
# Raw captions: casing and punctuation exercise pre_caption before the tokenizer.
REFERENCE_CAPTIONS = ("A red circle on the left.", "a small dog, riding a horse!", "The man at a cafe",
                      "large blue squares -- and green stars?")


@dataclass
class Source:
    """An ALBEF checkpoint as the user has it: the ``.pth``, its BERT config and a tokenizer."""

    checkpoint: Path
    bert_config: Path
    tokenizer_file: Path
    model: AlbefRetrieval
    tokenizer: object  # transformers.BertTokenizerFast


def checkpoint_file(source: Path) -> Path | None:
    """The ``.pth`` that ``source`` names: the file itself, or the one ``.pth`` in a directory
    (None where ``source`` is not an ALBEF checkpoint: a directory with no ``.pth``)."""
    source = Path(source)
    if source.is_file():
        return source if source.suffix == ".pth" else None
    found = sorted(source.glob("*.pth")) if source.is_dir() else []
    if len(found) > 1:
        raise CheckpointError(f"checkpoint directory [{source}] holds several .pth files {[p.name for p in found]}; "
                              f"name one")
    return found[0] if found else None


def read_source(source: Path, bert_config: Path | None = None, tokenizer: Path | None = None,
                vision: dict | None = None) -> Source:
    """Load the checkpoint onto ``families/albef.py`` and the tokenizer; every defect is a
    ``CheckpointError`` naming the file, field or key. ``bert_config`` and ``tokenizer`` default to
    ``config_bert.json`` and ``tokenizer.json`` or ``vocab.txt`` beside the ``.pth``; ``vision``
    (patch_size, vision_layers, vision_heads) overrides ALBEF's fixed ViT-B/16, for tiny tests."""
    pth = checkpoint_file(source)
    if pth is None:
        raise CheckpointError(f"[{source}] is neither a .pth file nor a directory holding one")
    bert_config = Path(bert_config) if bert_config else _beside(pth, (BERT_CONFIG_NAME,), "--bert-config")
    tokenizer_file = Path(tokenizer) if tokenizer else _beside(pth, TOKENIZER_FILES, "--tokenizer")
    for path in (bert_config, tokenizer_file):
        if not path.is_file():
            raise CheckpointError(f"[{path}] does not exist")
    try:
        json.loads(bert_config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"BERT config [{bert_config}] is not JSON: {e}") from e
    try:
        model = load_albef(pth, bert_config, **(vision or {}))
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"[{pth}] could not be loaded as an ALBEF checkpoint: {e}") from e
    except KeyError as e:
        raise CheckpointError(f"BERT config [{bert_config}] has no field [{e.args[0]}]") from e
    except ValueError as e:
        raise CheckpointError(f"[{pth}] with BERT config [{bert_config}]: {e}") from e
    cfg = model.cfg
    if cfg.text_width != cfg.vision_width:
        raise CheckpointError(f"BERT config [{bert_config}] hidden_size [{cfg.text_width}] differs from vision_width "
                              f"[{cfg.vision_width}]; the bundle stores one token-feature width")
    return Source(pth, bert_config, tokenizer_file, model, _read_tokenizer(tokenizer_file, cfg.vocab_size, bert_config))


def _beside(pth: Path, names: tuple[str, ...], option: str) -> Path:
    for name in names:
        if (pth.parent / name).is_file():
            return pth.parent / name
    raise CheckpointError(f"no {' or '.join(f'[{n}]' for n in names)} beside [{pth}]; pass {option}")


def _read_tokenizer(path: Path, vocab_size: int, bert_config: Path):
    """``bert-base-uncased``'s WordPiece as ALBEF's ``BertTokenizer`` builds it, from a vocab.txt or
    a tokenizer.json; refuses one that does not lowercase or has ids outside the model's vocabulary."""
    import transformers  # the import takes seconds; only tokenizers need it here

    try:
        if path.suffix == ".json":
            tokenizer = transformers.BertTokenizerFast(tokenizer_file=str(path))
        else:  # BERT's vocab.txt: one token a line, its id the line number (transformers' load_vocab)
            lines = path.read_text(encoding="utf-8").split("\n")
            vocab = {token: i for i, token in enumerate(lines[:-1] if lines[-1] == "" else lines)}
            tokenizer = transformers.BertTokenizerFast(vocab=vocab, do_lower_case=True)
    except Exception as e:  # tokenizers raises its own Exception type on malformed files
        raise CheckpointError(f"tokenizer [{path}] could not be read: {e}") from e
    for token in ("cls_token", "sep_token", "pad_token"):
        if getattr(tokenizer, f"{token}_id") is None:
            raise CheckpointError(f"tokenizer [{path}] has no {token} [{getattr(tokenizer, token)}]")
    largest = max(tokenizer.get_vocab().values())
    if largest >= vocab_size:
        raise CheckpointError(f"tokenizer [{path}] gives token [{tokenizer.convert_ids_to_tokens(largest)}] the id "
                              f"[{largest}], outside [{bert_config}] vocab_size [{vocab_size}]")
    if tokenizer("A Dog")["input_ids"] != tokenizer("a dog")["input_ids"]:
        raise CheckpointError(f"tokenizer [{path}] does not lowercase; ALBEF's is [{AlbefInputs.tokenizer}]")
    return tokenizer


def max_tokens(source: Source) -> int:
    """ALBEF's retrieval limit (30 tokens), within the model's position table."""
    return min(AlbefInputs.max_tokens, source.model.cfg.max_positions)


def image_transform(source: Source) -> data.ImageTransform:
    """ALBEF's test transform, as our pipeline (and Java's) implements it: PIL bicubic, its mean/std."""
    inputs = AlbefInputs()
    return data.ImageTransform(source.model.cfg.image_size, inputs.mean, inputs.std, inputs.resize)


def fusion_flops_per_pair(source: Source, text_tokens: int) -> int:
    """``model.fusion_flops`` of ALBEF's ``fusion_layers`` at ``text_tokens`` x every image token."""
    cfg = source.model.cfg
    return fusion_flops(cfg.text_width, cfg.text_intermediate, cfg.fusion_layers, text_tokens, cfg.image_tokens,
                        cfg.vision_width)


def tokenize(source: Source, texts, limit: int):
    """ALBEF's ``Retrieval.py``: ``pre_caption(caption, 30)``, then the tokenizer padded to the
    longest and truncated to ``limit``."""
    cleaned = [data.pre_caption(t, AlbefInputs.max_words) for t in texts]
    encoded = source.tokenizer(cleaned, padding="longest", truncation=True, max_length=limit, return_tensors="pt")
    return encoded["input_ids"].long(), encoded["attention_mask"].long()


@torch.no_grad()
def write_reference(source: Source, bundle: Path, limit: int) -> dict:
    """Generated images and raw captions with the source forward's outputs: pixels from
    ``data.ImageTransform`` (ALBEF's transform on these opaque, unrotated images), ids from the
    tokenizer after ``pre_caption``, the ITC vectors and token states from ``encode_image`` and
    ``encode_text``, the ITM logits of every image x caption from ``itm_logits``. Returns the
    arrays under ``export.onnx_parity``'s names."""
    model = source.model
    paths = reference_images(bundle / "reference" / "images")
    transform = image_transform(source)
    pixels = torch.stack([transform(p) for p in paths])
    ids, mask = tokenize(source, REFERENCE_CAPTIONS, limit)
    image_embedding, image_features = model.encode_image(pixels)
    text_embedding, text_features = model.encode_text(ids, mask)
    n_img, n_txt = len(paths), len(REFERENCE_CAPTIONS)
    logits = model.itm_logits(text_features.repeat(n_img, 1, 1), mask.repeat(n_img, 1),
                              image_features.repeat_interleave(n_txt, dim=0)).view(n_img, n_txt, 2)
    write_tokenizer_fixture(source, bundle / "reference" / "tokenizer_fixture.json", limit)
    return save_reference(bundle, [p.relative_to(bundle).as_posix() for p in paths], list(REFERENCE_CAPTIONS), {
        "pixels": pixels, "ids": ids, "mask": mask, "image_embedding": image_embedding, "image_features": image_features,
        "text_embedding": text_embedding, "text_features": text_features, "logits": logits},
        source="families/albef.py (equal to ALBEF's own forward: tests/fixtures/albef)")


def write_tokenizer_fixture(source: Source, path: Path, limit: int) -> None:
    """Texts, ``pre_caption``'s cleaning and the source tokenizer's ids for the cleaned text: what
    Java's ``TextTokenizer`` on the bundle must reproduce."""
    cases = []
    for text in FIXTURE_TEXTS:
        clean = data.pre_caption(text, AlbefInputs.max_words)
        cases.append({"text": text, "clean": clean,
                      "clean_ids": source.tokenizer(clean, truncation=True, max_length=limit)["input_ids"]})
    fixture = {"tokenizer": "tokenizer.json", "max_tokens": limit, "max_words": AlbefInputs.max_words,
               "preprocessing": "albef_pre_caption", "cases": cases}
    path.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def write_tokenizer(source: Source, path: Path) -> None:
    """The WordPiece as a tokenizer.json (BERT's normaliser, lowercasing and accent stripping as
    ``bert-base-uncased``), truncation and padding off: the manifest's ``max_tokens`` governs length."""
    backend = source.tokenizer.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    backend.save(str(path))


def import_bundle(source: Path, out: Path, name: str | None = None, codec: str = "int8",
                  bert_config: Path | None = None, tokenizer: Path | None = None, vision: dict | None = None) -> dict:
    """Read the ALBEF checkpoint ``source`` (a ``.pth`` or a directory with one), write the bundle
    to ``out``; returns the manifest."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec [{codec}]; valid codecs: {list(CODECS)}")
    src = read_source(source, bert_config, tokenizer, vision)
    model, cfg = src.model, src.model.cfg
    limit = max_tokens(src)
    out.mkdir(parents=True, exist_ok=True)
    write_tokenizer(src, out / "tokenizer.json")

    specs = contract_specs(cfg.image_size, cfg.embed_dim, cfg.image_tokens, cfg.text_width)
    ids, mask = tokenize(src, ["a red circle", "a large blue square left of a small red star"], limit)
    pixels = torch.zeros(2, 3, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        _, image_features = model.encode_image(pixels)
        _, text_features = model.encode_text(ids, mask)
    image_mask = torch.ones(2, cfg.image_tokens, dtype=torch.long)
    export_graph(ImageEncoderGraph(model), (pixels,), specs["image_encoder"], out / "image_encoder.onnx")
    export_graph(TextEncoderGraph(model), (ids, mask), specs["text_encoder"], out / "text_encoder.onnx")
    export_graph(FusionItmGraph(model), (text_features, mask, image_features, image_mask), specs["fusion_itm"],
                 out / "fusion_itm.onnx")

    ref = write_reference(src, out, limit)
    parity = onnx_parity(out, ref, 1)
    saved = torch.load(src.checkpoint, map_location="cpu", weights_only=True, mmap=True)  # for its run config
    manifest = {
        "format_version": BUNDLE_FORMAT,
        "name": name or out.name,
        "model": {"family": "albef", "architecture": "ALBEF retrieval (models/model_retrieval.py)",
                  "config": cfg.to_dict(), "parameters": sum(p.numel() for p in model.parameters()),
                  "definition": {"code": "encoder/training/families/albef.py", "verified_against": {
                      "repository": ALBEF_REPOSITORY, "commit": ALBEF_COMMIT,
                      "fixture": "encoder/training/tests/fixtures/albef"}},
                  "source": {"files": {role: {"name": p.name, "sha256": sha256(p), "bytes": p.stat().st_size}
                                       for role, p in (("checkpoint", src.checkpoint), ("bert_config", src.bert_config),
                                                       ("tokenizer", src.tokenizer_file))},
                             "run_config": saved.get("config"), "epoch": saved.get("epoch"),
                             "torch": torch.__version__}},
        "embedding": {"dim": cfg.embed_dim, "normalized": True, "similarity": "dot_product"},
        "token_features": {"width": cfg.text_width, "feature_layers": 1, "image_tokens": cfg.image_tokens,
                           "layout": "[tokens = feature_layers x tokens_per_layer, width], layer-major",
                           "codec": codec, "codecs": list(CODECS)},
        "text": {"tokenizer": "tokenizer.json", "max_tokens": limit, "preprocessing": "albef_pre_caption",
                 "max_words": AlbefInputs.max_words, "pad_id": src.tokenizer.pad_token_id,
                 "cls_id": src.tokenizer.cls_token_id, "sep_id": src.tokenizer.sep_token_id},
        # ALBEF loads with Image.open(path).convert('RGB'): alpha dropped, the EXIF orientation ignored.
        "image": {**image_transform(src).manifest(), "alpha": "pil_convert_rgb", "exif_orientation": False},
        "graphs": {key: {"file": f"{key}.onnx", "opset": OPSET, **spec} for key, spec in specs.items()},
        "fusion": fusion_section(FUSION_INPUTS),
        "score": SCORE,
        "rerank": {"score_mode": "itm",
                   "chosen_by": "ALBEF's retrieval evaluation (Retrieval.py): the ITC top-k ranked by the ITM match logit"},
        "fusion_flops_per_pair": fusion_flops_per_pair(src, limit),
        "bytes_per_image": bytes_per_item(1, cfg.image_tokens, cfg.text_width),
        "export_check": {"onnxruntime": ort.__version__, "max_abs_diff_vs_source": parity},
        "files": file_entries(out),
    }
    check_manifest(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest
