"""What every Hugging Face importer (``hf_blip``, ``hf_vilt``, ``hf_bridgetower``) does alike.

A Hugging Face checkpoint directory holds ``config.json``, the weights (``model.safetensors`` or
``pytorch_model.bin``), tokenizer files and ``preprocessor_config.json``. Each importer reads it
with these functions, so that every family finds its files, checks its config, loads its weights
and refuses a defect in one way, with a ``CheckpointError`` naming the file, field or key; and
writes the bundle's tokenizer, tokenizer fixture, reference index and the manifest sections that
do not depend on the family in one way. What a family's model needs beyond that (its config
fields, its heads, its processor's size rule, its graphs) stays in its importer.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import transformers
from safetensors import SafetensorError
from torch import nn

from bundle_io import ReferenceWriter, sha256
from feature_codec import CODECS
from fusion_contract import check_manifest
from importers import CheckpointError
from tokenizer import FIXTURE_TEXTS

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Tokenizer files a checkpoint may carry beside the vocabulary; recorded as sources where present.
TOKENIZER_EXTRAS = ("tokenizer_config.json", "special_tokens_map.json")
PIL_BICUBIC = 3  # PIL.Image.Resampling.BICUBIC, as preprocessor_config.json spells it
# transformers' model_max_length where a tokenizer config sets none (int(1e30)): no limit.
_NO_TOKENIZER_LIMIT = 1_000_000
# The captions of every Hugging Face bundle's reference outputs, and of its graphs' export
# (two lengths, so that the export sees a padded batch).
REFERENCE_CAPTIONS = ("a red circle on the left", "a small dog riding a horse", "the man at a cafe",
                      "large blue squares and green stars")
EXPORT_CAPTIONS = ("a red circle", "a large blue square left of a small red star")
TOKENIZER_FIXTURE = "reference/tokenizer_fixture.json"


@dataclass
class Checkpoint:
    """A checkpoint as read: the model in eval mode, its tokenizer and image processor, and the
    files they came from (the manifest's sources)."""
    directory: Path
    model: nn.Module
    tokenizer: object
    processor: object
    files: list[Path]


class ModelGraph(nn.Module):
    """A graph over ``model`` for ``export_graph``, in eval mode: ``torch.onnx.export`` restores the
    exported module's training flag afterwards, recursively, so a wrapper left in training mode (a
    new module's default) would switch the model's dropout on for everything after the export."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.eval()


# --- Reading the checkpoint directory ---

def required(directory: Path, names: tuple[str, ...]) -> Path:
    """The first of ``names`` present in ``directory``."""
    for name in names:
        if (directory / name).is_file():
            return directory / name
    raise CheckpointError(f"checkpoint directory [{directory}] has no {' or '.join(f'[{n}]' for n in names)}")


def config_json(directory: Path) -> tuple[Path, object]:
    """``config.json`` of the checkpoint directory ``directory`` and its parsed contents."""
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory [{directory}] does not exist")
    config_file = required(directory, ("config.json",))
    try:
        return config_file, json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"[{config_file}] is not JSON: {e}") from e


def read_config(directory: Path, model_type: str, architectures: Iterable[str], reads: str) -> tuple[Path, dict]:
    """``config_json``, refused unless it has ``model_type`` and names one of ``architectures``;
    ``reads`` (what the importer reads) ends the refusal's message."""
    config_file, config = config_json(directory)
    named = config.get("architectures") or []
    if config.get("model_type") != model_type or not set(architectures) & set(named):
        raise CheckpointError(f"[{config_file}] describes model_type [{config.get('model_type')}] with architectures "
                              f"{named}; {reads}")
    return config_file, config


def tokenizer_files(directory: Path, vocabulary: list[Path]) -> list[Path]:
    """``vocabulary`` (the files the tokenizer is built from) and the ``TOKENIZER_EXTRAS`` present."""
    return vocabulary + [directory / name for name in TOKENIZER_EXTRAS if (directory / name).is_file()]


def load(cls, directory: Path, weights: Path):
    """``cls.from_pretrained`` from local files only with eager attention, and its loading info
    (judge it with ``refuse_keys``)."""
    verbosity = transformers.logging.get_verbosity()
    # transformers' load report would list as UNEXPECTED keys that an importer may accept (another
    # head's); the loading info is judged instead, and whatever is wrong is an error naming the keys.
    transformers.logging.set_verbosity_error()
    try:
        # ignore_mismatched_sizes only turns transformers' error, which names no key, into the
        # loading info's mismatched_keys, which refuse_keys refuses with their shapes.
        return cls.from_pretrained(directory, local_files_only=True, output_loading_info=True,
                                   attn_implementation="eager", ignore_mismatched_sizes=True)
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError, SafetensorError) as e:
        raise CheckpointError(f"[{weights}] could not be loaded as {cls.__name__}: {e}") from e
    finally:
        transformers.logging.set_verbosity(verbosity)


def refuse_keys(weights: Path, info: dict, allowed_unused: Iterable[str] = (), loaded_as: str | None = None) -> None:
    """Refuse, naming them, missing and mismatched keys, and unused ones other than ``allowed_unused``
    (another head's, which a different class loads or the bundle does not serve). ``loaded_as``: the
    class, where an importer loads the weights as more than one."""
    allowed = set(allowed_unused)
    unused = [k for k in info.get("unexpected_keys") or [] if k not in allowed]
    for kind, found in (("missing_keys", info.get("missing_keys")), ("unexpected_keys", unused),
                        ("mismatched_keys", info.get("mismatched_keys"))):
        keys = sorted(describe_key(k) for k in found or [])
        if keys:
            raise CheckpointError(f"[{weights}] has {kind.replace('_', ' ')} {keys[:8]}"
                                  f"{f' and {len(keys) - 8} more' if len(keys) > 8 else ''}"
                                  f"{f' (loaded as {loaded_as})' if loaded_as else ''}")


def describe_key(key) -> str:
    """A loading-info key; a mismatched one is ``(name, checkpoint shape, model shape)``."""
    if isinstance(key, tuple) and len(key) == 3:
        name, found, expected = key
        return f"{name} of shape {list(found)} where [config.json] builds {list(expected)}"
    return str(key)


def load_model(cls, directory: Path, weights: Path) -> nn.Module:
    """``load``, every key refused that is not exactly the model's; in eval mode."""
    model, info = load(cls, directory, weights)
    refuse_keys(weights, info)
    return model.eval()


def check_vocabulary(tokenizer, tokenizer_file: Path, config_file: Path, field: str, vocab_size: int) -> None:
    """Refuse a tokenizer whose ids reach past the model's embedding table (``field`` of ``config_file``)."""
    largest = max(tokenizer.get_vocab().values())
    if largest >= vocab_size:
        token = tokenizer.convert_ids_to_tokens(largest)
        raise CheckpointError(f"tokenizer [{tokenizer_file}] gives token [{token}] the id [{largest}], outside "
                              f"[{config_file}] {field} [{vocab_size}]")


def load_processor(cls, directory: Path, processor_file: Path):
    """The image processor ``cls``, a PIL backend: named explicitly, since transformers 5 prefers a
    torchvision one where installed, whose resize differs from the PIL bicubic these models were
    trained with."""
    try:
        return cls.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        raise CheckpointError(f"[{processor_file}] could not be loaded as {cls.__name__}: {e}") from e


def check_steps(processor, processor_file: Path, steps: dict) -> None:
    """Refuse a processor whose fields (``do_resize``, ``resample``, ...) differ from ``steps``: the
    bundle's image rule applies those steps and no others."""
    for field, expected in steps.items():
        if getattr(processor, field) != expected:
            raise CheckpointError(f"[{processor_file}] {field} [{getattr(processor, field)}] is not supported "
                                  f"(the bundle's image rule needs [{expected}])")


# --- Text ---

def max_tokens(tokenizer, *limits: int) -> int:
    """The least of ``limits`` and the tokenizer's ``model_max_length`` where it sets one."""
    if tokenizer.model_max_length and tokenizer.model_max_length < _NO_TOKENIZER_LIMIT:
        limits += (tokenizer.model_max_length,)
    return min(limits)


def tokenize(tokenizer, texts, limit: int):
    """``texts`` padded to the longest and truncated to ``limit``: (ids, mask), int64."""
    encoded = tokenizer(list(texts), padding="longest", truncation=True, max_length=limit, return_tensors="pt")
    return encoded["input_ids"].long(), encoded["attention_mask"].long()


def write_tokenizer(tokenizer, path: Path) -> None:
    """The fast tokenizer's own tokenizer.json (normalizer, pre-tokenizer, model, post-processor),
    with truncation and padding off: the manifest's ``max_tokens`` governs length."""
    backend = tokenizer.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    backend.save(str(path))


def write_tokenizer_fixture(tokenizer, path: Path, limit: int) -> None:
    """Texts and the ids the checkpoint's own tokenizer gives them (truncated to ``limit``): what
    a Java tokenizer reading the bundle's tokenizer.json must reproduce."""
    cases = [{"text": t, "ids": tokenizer(t, truncation=True, max_length=limit)["input_ids"]} for t in FIXTURE_TEXTS]
    fixture = {"tokenizer": "tokenizer.json", "max_tokens": limit, "preprocessing": "tokenizer_json", "cases": cases}
    path.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


# --- Writing the bundle ---

def start_bundle(source: Path, out: Path, codec: str, read_checkpoint, max_tokens) -> tuple[Checkpoint, int]:
    """An import's first steps: ``codec`` checked, the checkpoint directory ``source`` read with the
    importer's ``read_checkpoint``, its text limit (the importer's ``max_tokens``), and ``out`` made
    with the checkpoint's ``tokenizer.json``. Returns the checkpoint and the limit."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec [{codec}]; valid codecs: {list(CODECS)}")
    checkpoint = read_checkpoint(source)
    limit = max_tokens(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    write_tokenizer(checkpoint.tokenizer, out / "tokenizer.json")
    return checkpoint, limit


def export_inputs(tokenizer, limit: int, height: int, width: int):
    """The graphs' export examples: ``EXPORT_CAPTIONS`` as ``tokenize`` gives them, and two blank
    ``height`` x ``width`` images. Returns (ids, mask, pixels)."""
    ids, mask = tokenize(tokenizer, EXPORT_CAPTIONS, limit)
    return ids, mask, torch.zeros(2, 3, height, width)


def write_reference(bundle: Path, images: list[Path], arrays: dict, tokenizer, limit: int, about: dict,
                    about_after: dict | None = None) -> dict:
    """``reference/``: ``arrays``, the tokenizer fixture, and ``reference.json`` naming the reference
    ``images``, ``REFERENCE_CAPTIONS``, the arrays, ``about`` (layouts and source), the fixture and
    ``about_after``; returns ``arrays``."""
    ref = ReferenceWriter(bundle / "reference")
    for name, value in arrays.items():
        ref.add(name, value)
    write_tokenizer_fixture(tokenizer, bundle / TOKENIZER_FIXTURE, limit)
    reference = {"images": [p.relative_to(bundle).as_posix() for p in images], "captions": list(REFERENCE_CAPTIONS),
                 "arrays": ref.index, **about, "tokenizer_fixture": TOKENIZER_FIXTURE, **(about_after or {})}
    (bundle / "reference" / "reference.json").write_text(json.dumps(reference, indent=1) + "\n", encoding="utf-8")
    return arrays


def session(bundle: Path, name: str) -> ort.InferenceSession:
    """The bundle's graph ``name`` in ONNX Runtime on the CPU."""
    return ort.InferenceSession(str(bundle / f"{name}.onnx"), providers=["CPUExecutionProvider"])


def max_abs_diff(ours: np.ndarray, source: torch.Tensor) -> float:
    """The largest difference of an ONNX Runtime output from the source's tensor."""
    return float(np.abs(ours - source.detach().numpy()).max())


def model_section(checkpoint: Checkpoint, family: str, architecture: str, served: list[nn.Module] | None = None,
                  **classes: str) -> dict:
    """The manifest's ``model``: ``family``, the ``architecture`` read (and ``classes``, other
    classes that read the same files), the config, the parameters of the modules the bundle serves
    (``served``, by default the model) and ``source_section``."""
    served = served or [checkpoint.model]
    return {"family": family, "architecture": architecture, **classes, "config": checkpoint.model.config.to_dict(),
            "parameters": sum(p.numel() for module in served for p in module.parameters()),
            "source": source_section(checkpoint)}


def source_section(checkpoint: Checkpoint) -> dict:
    """The manifest's ``model.source``: the directory, each file read with its sha256 and size, and
    the library versions that read it."""
    return {"directory": str(checkpoint.directory),
            "files": {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size} for p in checkpoint.files},
            "transformers": transformers.__version__, "torch": torch.__version__}


def text_section(tokenizer, limit: int, vocab_size: int) -> dict:
    """The manifest's ``text``: the bundle's tokenizer.json (``write_tokenizer``), used as it is."""
    return {"tokenizer": "tokenizer.json", "max_tokens": limit, "preprocessing": "tokenizer_json",
            "tokenizer_class": type(tokenizer).__name__, "vocab_size": vocab_size,
            "pad_id": tokenizer.pad_token_id, "cls_id": tokenizer.cls_token_id, "sep_id": tokenizer.sep_token_id}


def write_manifest(out: Path, manifest: dict) -> dict:
    """``manifest.json``, once ``check_manifest`` accepts it; returns ``manifest``."""
    check_manifest(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest
