"""Writing a model bundle's files: ONNX graphs, reference arrays, checksums.

Shared by ``export.py`` (bundles of our own models) and ``importers/`` (published checkpoints),
so that every bundle's graphs, reference files and ``files`` section are written one way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

OPSET = 17  # loaded by ONNX Runtime 1.29 (Java) and every onnxruntime wheel we pin
BUNDLE_FORMAT = 1


def export_graph(module: nn.Module, example: tuple, spec: dict, path: Path):
    """``torch.onnx.export`` (the TorchScript exporter) with the spec's names and its string axes
    dynamic, then ``onnx.checker``'s full check."""
    names_in = [t["name"] for t in spec["inputs"]]
    names_out = [t["name"] for t in spec["outputs"]]
    dynamic = {
        t["name"]: {i: axis for i, axis in enumerate(t["shape"]) if isinstance(axis, str)}
        for t in spec["inputs"] + spec["outputs"]
    }
    torch.onnx.export(
        module, example, str(path), input_names=names_in, output_names=names_out, dynamic_axes=dynamic,
        opset_version=OPSET, do_constant_folding=True, dynamo=False,
    )
    graph = onnx.load(str(path))
    _declare_static_dims(graph, spec)
    onnx.save(graph, str(path))
    onnx.checker.check_model(graph, full_check=True)


def _declare_static_dims(graph: onnx.ModelProto, spec: dict) -> None:
    """Write the spec's fixed sizes into the graph's signature where the exporter left a symbolic
    name (it does for some outputs), so that the graph declares exactly the manifest's shapes."""
    tensors = {t.name: t for t in list(graph.graph.input) + list(graph.graph.output)}
    for t in spec["inputs"] + spec["outputs"]:
        dims = tensors[t["name"]].type.tensor_type.shape.dim
        for dim, size in zip(dims, t["shape"]):
            if isinstance(size, int) and dim.dim_value != size:
                dim.dim_value = size


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entries(bundle: Path) -> dict:
    """The manifest's ``files`` section: every file but the manifest, with its sha256 and size."""
    files = sorted(p for p in bundle.rglob("*") if p.is_file() and p.name != "manifest.json")
    return {p.relative_to(bundle).as_posix(): {"sha256": sha256(p), "bytes": p.stat().st_size} for p in files}


def remove_int8_graphs(bundle: Path) -> list[Path]:
    """Delete the ``*.int8.onnx`` graphs an earlier ``quantize.py`` run left in a bundle directory
    that is being written again: its new manifest has no ``precisions`` for them, so its ``files``
    must not list them (``--int8`` writes them anew). Returns what it deleted."""
    stale = sorted(Path(bundle).glob("*.int8.onnx"))
    for path in stale:
        path.unlink()
    return stale


def read_reference(bundle: Path, name: str) -> np.ndarray:
    """One array of a bundle's ``reference/`` as ``ReferenceWriter`` wrote it (for tests)."""
    entry = json.loads((bundle / "reference" / "reference.json").read_text(encoding="utf-8"))["arrays"][name]
    dtype = {"float32": "<f4", "int64": "<i8"}[entry["dtype"]]
    return np.fromfile(bundle / "reference" / entry["file"], dtype=dtype).reshape(entry["shape"])


class ReferenceWriter:
    """Raw little-endian arrays + an index: trivial to read from Java with a ByteBuffer."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.index: dict[str, dict] = {}
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, array) -> None:
        array = np.ascontiguousarray(array.detach().cpu().numpy() if torch.is_tensor(array) else array)
        dtype = {np.dtype("float32"): "float32", np.dtype("int64"): "int64"}[array.dtype]
        (self.directory / f"{name}.bin").write_bytes(array.astype(array.dtype.newbyteorder("<")).tobytes())
        self.index[name] = {"file": f"{name}.bin", "dtype": dtype, "shape": list(array.shape)}
