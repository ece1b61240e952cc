"""What the importer tests (test_import_blip, test_import_vilt, test_import_bridgetower,
test_import_albef) check alike: a written bundle's manifest against its graphs, its tokenizer.json
against the tokenizer fixture, a bundle against the committed Java fixture; and the hostile
checkpoints every Hugging Face importer must refuse, naming the file, field or key, built by
copying a good checkpoint and breaking one thing in it."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import transformers
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from bundle_io import read_reference as reference
from importers import CheckpointError

# The manifest sections a committed Java fixture must share with the importer's output today.
CONTRACT_SECTIONS = ("format_version", "token_features", "text", "image", "graphs", "fusion", "score", "rerank",
                     "fusion_flops_per_pair", "bytes_per_image")


# --- A written bundle ---

def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def assert_graphs_declared(bundle: Path, m: dict) -> None:
    """Every graph's inputs and outputs are the manifest's, in order, with the declared shapes."""
    for key, spec in m["graphs"].items():
        graph = onnx.load(str(bundle / spec["file"]))
        for declared, actual in ((spec["inputs"], graph.graph.input), (spec["outputs"], graph.graph.output)):
            assert [t["name"] for t in declared] == [t.name for t in actual], key
            for t, v in zip(declared, actual):
                dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                assert dims == t["shape"], (key, t["name"], dims)


def assert_tokenizer_fixture(bundle: Path) -> Tokenizer:
    """The bundle's tokenizer.json gives the fixture's ids for every text shorter than max_tokens
    (the Java side truncates), and truncation is exercised; returns the tokenizer."""
    fixture = json.loads((bundle / "reference" / "tokenizer_fixture.json").read_text())
    tokenizer = Tokenizer.from_file(str(bundle / "tokenizer.json"))
    short = [c for c in fixture["cases"] if len(c["ids"]) < fixture["max_tokens"]]
    assert len(short) >= 5
    for case in short:
        assert tokenizer.encode(case["text"]).ids == case["ids"], case["text"]
    assert any(len(c["ids"]) == fixture["max_tokens"] for c in fixture["cases"])  # truncation is exercised
    return tokenizer


def assert_hf_provenance(bundle: Path, checkpoint: Path) -> dict:
    """A Hugging Face bundle's manifest names the transformers release that read ``checkpoint`` and
    its config, weights, tokenizer.json and preprocessor config with their checksums, and every file
    of the bundle with its checksum; returns the manifest."""
    m = manifest(bundle)
    source = m["model"]["source"]
    assert source["transformers"] == transformers.__version__
    assert {"config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"} <= set(source["files"])
    for name, entry in source["files"].items():
        assert hashlib.sha256((checkpoint / name).read_bytes()).hexdigest() == entry["sha256"], name
    for name, entry in m["files"].items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == entry["sha256"], name
    return m


def assert_committed_fixture(bundle: Path, committed: Path) -> None:
    """The committed Java fixture ``committed`` is what the importer wrote to ``bundle`` from the
    same source: the contract sections, the source files and the reference outputs."""
    ours, theirs = manifest(bundle), manifest(committed)
    for section in CONTRACT_SECTIONS:
        assert theirs[section] == ours[section], section
    assert theirs["model"]["source"]["files"] == ours["model"]["source"]["files"]
    for name in json.loads((bundle / "reference" / "reference.json").read_text())["arrays"]:
        np.testing.assert_allclose(reference(committed, name), reference(bundle, name), rtol=0, atol=1e-6, err_msg=name)


# --- Hostile checkpoints ---

def broken(checkpoint: Path, tmp_path: Path) -> Path:
    """A copy of ``checkpoint`` to break."""
    copy = tmp_path / "ckpt"
    shutil.copytree(checkpoint, copy)
    return copy


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def edit_weights(path: Path, edit) -> None:
    weights = load_file(str(path))
    edit(weights)
    save_file(weights, str(path), metadata={"format": "pt"})


def grow_wordpiece_vocabulary(directory: Path, words: list[str]) -> None:
    """A vocab.txt with more word pieces than the model has embeddings (and no tokenizer.json)."""
    vocab = directory / "vocab.txt"
    vocab.write_text(vocab.read_text() + "".join(f"{w}\n" for w in words))
    (directory / "tokenizer.json").unlink()


def assert_refused(importer, checkpoint: Path, tmp_path: Path, breakage, message: str) -> None:
    """``importer.import_bundle`` of a copy of ``checkpoint`` broken by ``breakage`` raises a
    CheckpointError matching ``message`` and writes no manifest."""
    source = broken(checkpoint, tmp_path)
    breakage(source)
    with pytest.raises(CheckpointError, match=message):
        importer.import_bundle(source, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()


def hf_refusals(architecture: str, other_architecture: str, other_model_type: str, missing_key: str,
                mismatched: tuple[str, tuple[int, ...], tuple[int, ...]]) -> list[tuple]:
    """(breakage, message) of what every Hugging Face importer refuses alike (hf_checkpoint): no
    config.json, another family's ``other_architecture`` or ``other_model_type``, no weights, no
    preprocessor_config.json or one transformers cannot read, truncated weights, ``missing_key``
    dropped, an unknown key, ``mismatched`` (key, shape written, shape the config builds) and
    processor fields the bundle's image rule does not apply."""
    key, written, built = mismatched
    return [
        (lambda d: (d / "config.json").unlink(), r"\[config.json\]"),
        (lambda d: edit_json(d / "config.json", architectures=[other_architecture]),
         rf"config.json\].*'{other_architecture}'.*\[{architecture}\]"),
        (lambda d: edit_json(d / "config.json", model_type=other_model_type),
         rf"config.json\].*model_type \[{other_model_type}\]"),
        (lambda d: (d / "model.safetensors").unlink(), r"\[model.safetensors\] or \[pytorch_model.bin\]"),
        (lambda d: (d / "preprocessor_config.json").unlink(), r"\[preprocessor_config.json\]"),
        (lambda d: (d / "preprocessor_config.json").write_text("{"),
         r"preprocessor_config.json\] could not be loaded as \w+ImageProcessorPil"),
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:5000]),
         rf"model.safetensors\] could not be loaded as {architecture}"),
        (lambda d: edit_weights(d / "model.safetensors", lambda w: w.pop(missing_key)),
         rf"model.safetensors\] has missing keys \['{re.escape(missing_key)}'\]"),
        (lambda d: edit_weights(d / "model.safetensors", lambda w: w.update(extra_head=torch.zeros(2))),
         r"model.safetensors\] has unexpected keys \['extra_head'\]"),
        (lambda d: edit_weights(d / "model.safetensors", lambda w: w.update({key: torch.zeros(written)})),
         rf"model.safetensors\] has mismatched keys \['{re.escape(key)} of shape {re.escape(str(list(written)))} "
         rf"where \[config.json\] builds {re.escape(str(list(built)))}'\]"),
        (lambda d: edit_json(d / "preprocessor_config.json", resample=2), r"preprocessor_config.json\] resample \[2\]"),
        (lambda d: edit_json(d / "preprocessor_config.json", do_normalize=False),
         r"preprocessor_config.json\] do_normalize \[False\]"),
    ]
