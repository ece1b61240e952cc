"""int8 versions of a bundle's three graphs, written beside its fp32 graphs (docs/model-runtime.md,
"Precision: int8 graphs").

    python quantize.py BUNDLE [--method dynamic|static|auto] [--per-tensor] [--full-range]
        [--calibration-ann JSON [--calibration-items N]] [--parity-ann JSON [--parity-items N]] [--image-root DIR]

adds ``<graph>.int8.onnx`` for ``image_encoder``, ``text_encoder`` and ``fusion_itm`` to an existing
bundle and a manifest section right after ``graphs``

    "precisions": {"default": "fp32",
                   "int8": {"graphs": {key: {"file": ...}}, "method": {key: ...}, "settings": {key: ...},
                            "calibration": ... or null, "parity": ..., "onnxruntime": "1.29.0"}}

then recomputes the manifest's ``files``. The fp32 ``graphs`` stay as they are; each int8 graph has
exactly their input and output names, dtypes and shapes (copied from the fp32 graph). Running it
again replaces the int8 files and the section (the result does not depend on an earlier run).

Every graph is first put through ONNX Runtime's basic (ONNX-op, machine-independent)
optimizations, which fold the constants that hide some weights from the quantizer
(:func:`fold_constants`). Methods, per graph (``onnxruntime.quantization``):

* ``dynamic`` (the default): every ``MatMul`` with a constant weight (and ``Gemm``, which the
  quantizer rewrites as ``MatMul`` + ``Add``) gets int8 weights, symmetric, per output channel
  (``--per-tensor``: one scale) in a 7-bit range (``--full-range``: 8 bits), and uint8 activations
  quantized per tensor at run time: ``DynamicQuantizeLinear`` + ``MatMulInteger``, which ONNX
  Runtime's CPU provider fuses into ``DynamicQuantizeMatMul`` / ``MatMulIntegerToFloat``, MLAS'
  u8s8 GEMM (AVX2, AVX-512 VNNI and AMX kernels). No calibration. Left fp32: the products of two
  activations (attention scores and mixing), the patch ``Conv`` (one layer on raw pixels, a few
  per cent of an encoder's work) and the embedding lookups (no arithmetic). Why 7 bits: without
  VNNI, the u8s8 kernels add pairs of u8 x s8 products in 16 bits (``vpmaddubsw``), which
  saturates for 8-bit weights against large activations; 7-bit weights cannot. On an AVX2 CPU,
  fuserank-small's int8 graphs agree with ``onnx.reference``'s exact integer arithmetic to 0.01
  with 7-bit weights and differ by 0.13 with 8-bit ones (fp32 values up to 4): 7 bits cost little
  where VNNI or AMX compute exactly, and keep the parity measured here the parity everywhere.
* ``static``: QDQ (``QuantizeLinear``/``DequantizeLinear`` around the same weight ``MatMul``\\ s;
  int8 activations with fixed per-tensor scales from MinMax calibration; the same weights). Calibrated
  on the bundle's reference inputs, or on the first ``--calibration-items`` images and captions of a
  Karpathy annotation file read with the bundle's own preprocessing (``data.ImageTransform``,
  ``TextTokenizer``: bundles whose image rule those reproduce, i.e. ours, ALBEF's, BLIP's).
* ``auto``: both (static only with ``--calibration-ann``: calibrated on the reference inputs, the
  scales would be tuned to the very inputs parity is measured on), then of every combination of
  methods over the three graphs the one closest to fp32 end to end (first ITM and ITC top-1
  agreement, then the match logit's largest difference) on the ``--parity-ann`` inputs, else on
  the reference.

A graph with no weight ``MatMul`` (ViLT's encoders are its embeddings) has method ``none``: the
int8 precision names its fp32 file.

Parity, in ``precisions.int8.parity``: on the bundle's reference inputs (``reference/``), each int8
graph alone on the fp32 graphs' outputs (``graphs``), and the three int8 graphs end to end
(``end_to_end``) against the three fp32 graphs: max abs difference of every output, the smallest
cosine of the ITC embeddings, the ITM logits of every reference image x caption pair as the runtime
batches them in each direction (one caption against every image; one image against every
caption: a dynamic graph's activation scale is per batch), whether each caption's best image and
each image's best caption by ITM match logit stay fp32's (and, where one changes, by how much fp32
preferred its own), and the same for the ITC dot products. ``--parity-ann`` adds the same end to
end on an annotation file's first ``--parity-items`` images and their first captions
(``evaluation``), with the recall at 1 of both precisions. Measured with ONNX Runtime on this
machine's CPU, whose int8 instructions ``parity.cpu`` names.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)

from bundle_io import file_entries, read_reference, sha256

GRAPHS = ("image_encoder", "text_encoder", "fusion_itm")
PRECISION = "int8"
METHODS = ("dynamic", "static", "auto")
QUANTIZED_OPS = ["MatMul"]
# fuserank-small and other bundles export.py wrote before the manifest had a ``fusion`` section:
# the fusion graph reads the text encoder's token features and the tokenizer's mask, and the image
# encoder's token features and a mask over their rows (export.FUSION_INPUTS).
DEFAULT_FUSION_SOURCES = {"text_features": ("text", "token_features"), "text_mask": ("text", "attention_mask"),
                          "image_features": ("image", "token_features"), "image_mask": ("image", "token_mask")}
CALIBRATION_BATCH = 8


class BundleError(ValueError):
    """The directory is not a bundle this module can quantize; the message names the file or field."""


# --------------------------------------------------------------------------------------------
# the bundle


def read_manifest(bundle: Path) -> dict:
    """The bundle's manifest, once every graph file and the reference index it names exist."""
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise BundleError(f"bundle [{bundle}] is not a directory")
    path = bundle / "manifest.json"
    if not path.is_file():
        raise BundleError(f"[{bundle}] is not a model bundle: it has no [manifest.json]")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"[{path}] is not JSON: {e}") from e
    graphs = manifest.get("graphs") if isinstance(manifest, dict) else None
    if not isinstance(graphs, dict):
        raise BundleError(f"[{path}] has no [graphs] section")
    for key in GRAPHS:
        file = (graphs.get(key) or {}).get("file")
        if not isinstance(file, str) or not file:
            raise BundleError(f"[{path}] field [graphs.{key}.file] is missing")
        if not (bundle / file).is_file():
            raise BundleError(f"bundle [{bundle}] lacks graph [{file}] named by [manifest.json] field [graphs.{key}.file]")
    if not (bundle / "reference" / "reference.json").is_file():
        raise BundleError(f"bundle [{bundle}] lacks [reference/reference.json]: parity is measured on its inputs")
    return manifest


def int8_file(key: str) -> str:
    return f"{key}.{PRECISION}.onnx"


def fusion_sources(manifest: dict, direction: str) -> list[tuple[str, str, str]]:
    """``(input name, side, quantity)`` of each fusion-graph input in ``direction``, side being
    ``query`` or ``candidate``: the manifest's ``fusion`` section, or export.py's inputs."""
    if "fusion" in manifest:
        return [(i["name"], *i["source"].split(".", 1)) for i in manifest["fusion"]["directions"][direction]["inputs"]]
    query = {"text_to_image": "text", "image_to_text": "image"}[direction]
    return [(name, "query" if modality == query else "candidate", quantity)
            for name, (modality, quantity) in DEFAULT_FUSION_SOURCES.items()]


# --------------------------------------------------------------------------------------------
# inputs: the reference's or an annotation file's


@dataclass
class Inputs:
    """Images (each ``[1, 3, H, W]`` float32, as the image graph takes them) and captions (ids and
    mask ``[captions, tokens]`` int64, padded to the longest), with where they came from."""
    source: str
    pixels: list
    ids: np.ndarray
    mask: np.ndarray

    @property
    def counts(self) -> dict:
        return {"images": len(self.pixels), "captions": int(self.ids.shape[0])}


def reference_inputs(bundle: Path) -> Inputs:
    """The reference images' pixels and the reference captions' ids as the bundle stores them:
    ``pixels`` ``[images, 3, H, W]``, or ``pixels_<i>`` per image where sizes differ (ViLT)."""
    index = json.loads((bundle / "reference" / "reference.json").read_text(encoding="utf-8"))
    arrays = index["arrays"]
    if "pixels" in arrays:
        pixels = read_reference(bundle, "pixels")
        images = [pixels[i:i + 1] for i in range(pixels.shape[0])]
    else:
        images = [read_reference(bundle, f"pixels_{i}") for i in range(len(index["images"]))]
    ids, mask = read_reference(bundle, "input_ids"), read_reference(bundle, "attention_mask")
    return Inputs("reference/reference.json", images, ids, mask)


def annotation_inputs(manifest: dict, bundle: Path, ann: Path, image_root: Path, count: int) -> Inputs:
    """The first ``count`` images of a Karpathy annotation file and the first caption of each,
    through the bundle's own preprocessing: a square image rule that ``data.ImageTransform``
    implements and a text rule ``TextTokenizer`` implements (ALBEF's ``pre_caption`` or none)."""
    import data
    from tokenizer import TextTokenizer

    image, text = manifest.get("image", {}), manifest.get("text", {})
    size = image.get("size")
    where = bundle / "manifest.json"
    if not isinstance(size, int) or image.get("resize") not in data.RESIZE_RULES or "shortest_edge" in image:
        raise BundleError(f"[{where}] field [image] (size [{size}], resize [{image.get('resize')}]"
                          f"{', shortest_edge' if 'shortest_edge' in image else ''}) is not a rule data.ImageTransform "
                          f"reproduces, so [{ann}] cannot be read as this model sees images: use the reference inputs")
    if text.get("preprocessing") not in ("albef_pre_caption", "tokenizer_json"):
        raise BundleError(f"[{where}] field [text.preprocessing] is [{text.get('preprocessing')}], which "
                          f"TextTokenizer does not apply, so [{ann}] cannot be read: use the reference inputs")
    entries = data.load_annotations(ann)[:count]
    if not entries:
        raise BundleError(f"annotation file [{ann}] has no entries")
    transform = data.ImageTransform(size, image["mean"], image["std"], image["resize"])
    tokenizer = TextTokenizer(bundle / text["tokenizer"], text["max_tokens"])
    pixels = [transform(image_root / e["image"]).numpy()[None] for e in entries]
    clean = data.pre_caption if text["preprocessing"] == "albef_pre_caption" else (lambda c: c)
    ids, mask = tokenizer.encode_batch([clean(e["caption"][0]) for e in entries])
    return Inputs(f"{ann.name}: the first {len(entries)} images and the first caption of each", pixels,
                  ids.numpy(), mask.numpy())


# --------------------------------------------------------------------------------------------
# running a bundle's graphs


class Runner:
    """ONNX Runtime sessions of a bundle's three graphs, ``files`` naming each graph's file (fp32
    or int8): the image and text encoders over :class:`Inputs`, and the fusion graph over every
    image x caption pair as the runtime batches them (one query against all candidates)."""

    def __init__(self, bundle: Path, manifest: dict, files: dict):
        self.manifest = manifest
        self.layers = int(manifest.get("token_features", {}).get("feature_layers", 1))
        self.pad_id = int(manifest.get("text", {}).get("pad_id", 0))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # deterministic sums, and the numbers do not depend on the machine's cores
        self.sessions = {key: ort.InferenceSession(str(bundle / files[key]), options, providers=["CPUExecutionProvider"])
                         for key in GRAPHS}

    def outputs(self, key: str) -> list[str]:
        return [o.name for o in self.sessions[key].get_outputs()]

    def images(self, pixels: list) -> list[dict]:
        """Per image, the image graph's outputs (``[1, ...]``); images of one size run as one batch."""
        session, names = self.sessions["image_encoder"], self.outputs("image_encoder")
        out: list = [None] * len(pixels)
        for shape in dict.fromkeys(p.shape for p in pixels):
            rows = [i for i, p in enumerate(pixels) if p.shape == shape]
            values = session.run(None, {"pixels": np.concatenate([pixels[i] for i in rows])})
            for n, i in enumerate(rows):
                out[i] = {name: v[n:n + 1] for name, v in zip(names, values)}
        return out

    def texts(self, ids: np.ndarray, mask: np.ndarray) -> dict:
        values = self.sessions["text_encoder"].run(None, {"input_ids": ids, "attention_mask": mask})
        return dict(zip(self.outputs("text_encoder"), values))

    def itm(self, inputs: Inputs, image_out: list, text_out: dict, record: list | None = None,
            directions=("text_to_image", "image_to_text")) -> dict:
        """ITM logits ``[image, caption, 2]`` per direction: ``text_to_image`` runs each caption
        against every image, ``image_to_text`` each image against every caption. ``record``, where
        given, receives every batch the fusion graph is run on."""
        images = [self._image_item(o) for o in image_out]
        texts = [self._text_item(inputs, text_out, j) for j in range(inputs.ids.shape[0])]
        result = {}
        for direction, queries, candidates in (("text_to_image", texts, images), ("image_to_text", images, texts)):
            if direction not in directions:
                continue
            sources = fusion_sources(self.manifest, direction)
            rows = []
            for query in queries:
                feeds = {}
                for name, side, quantity in sources:
                    if side == "query":
                        feeds[name] = np.repeat(query[quantity][None], len(candidates), axis=0)
                    else:
                        feeds[name] = self._stack([c[quantity] for c in candidates], quantity)
                if record is not None:
                    record.append(feeds)
                (logits,) = self.sessions["fusion_itm"].run(None, feeds)
                rows.append(logits)
            stacked = np.stack(rows)  # [query, candidate, 2]
            result[direction] = stacked.transpose(1, 0, 2) if direction == "text_to_image" else stacked
        return result

    def _image_item(self, out: dict) -> dict:
        item = {}
        if "token_features" in out:
            features = out["token_features"][0]
            item["token_features"] = features
            item["token_mask"] = np.ones(features.shape[0] // self.layers, dtype=np.int64)
        return item

    def _text_item(self, inputs: Inputs, out: dict, j: int) -> dict:
        item = {"token_ids": inputs.ids[j], "attention_mask": inputs.mask[j]}
        if "token_features" in out:
            item["token_features"] = out["token_features"][j]
            item["token_mask"] = np.ones(out["token_features"].shape[1] // self.layers, dtype=np.int64)
        return item

    def _stack(self, values: list, quantity: str) -> np.ndarray:
        """Candidates' values as one batch, shorter ones padded as the runtime pads them: token
        features with zero rows in every layer, masks with 0, ids with the pad id."""
        if quantity == "token_features":
            tokens = max(v.shape[0] // self.layers for v in values)
            padded = []
            for v in values:
                per_layer = v.reshape(self.layers, -1, v.shape[-1])
                pad = np.zeros((self.layers, tokens - per_layer.shape[1], v.shape[-1]), dtype=v.dtype)
                padded.append(np.concatenate([per_layer, pad], axis=1).reshape(-1, v.shape[-1]))
            return np.stack(padded)
        length = max(v.shape[0] for v in values)
        fill = self.pad_id if quantity == "token_ids" else 0
        return np.stack([np.pad(v, (0, length - v.shape[0]), constant_values=fill) for v in values])


@dataclass
class Run:
    """Every output of a bundle's graphs on one set of inputs."""
    images: list
    texts: dict
    itm: dict

    def image_output(self, name: str) -> np.ndarray | None:
        """One image output over all images; ``None`` where sizes differ (ViLT's token features)."""
        values = [o[name] for o in self.images]
        return np.concatenate(values) if len({v.shape for v in values}) == 1 else None


def run(runner: Runner, inputs: Inputs, image_out: list | None = None, text_out: dict | None = None) -> Run:
    image_out = runner.images(inputs.pixels) if image_out is None else image_out
    text_out = runner.texts(inputs.ids, inputs.mask) if text_out is None else text_out
    return Run(image_out, text_out, runner.itm(inputs, image_out, text_out))


# --------------------------------------------------------------------------------------------
# parity


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def _cosine_min(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(a.shape[0], -1).astype(np.float64), b.reshape(b.shape[0], -1).astype(np.float64)
    return float((np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())


def _agreement(fp32: np.ndarray, int8: np.ndarray, axis: int) -> float:
    """The fraction of queries whose best candidate (argmax along ``axis``) is fp32's."""
    return float((fp32.argmax(axis=axis) == int8.argmax(axis=axis)).mean())


def _flip_margin(fp32: np.ndarray, int8: np.ndarray, axis: int) -> float:
    """Over the queries whose best candidate int8 changes, the largest fp32 lead of fp32's best
    over int8's best (0 if none changes): a flip between candidates fp32 all but ties is noise."""
    s32, s8 = np.moveaxis(fp32, axis, -1), np.moveaxis(int8, axis, -1)  # [query, candidate]
    best32, best8 = s32.argmax(axis=-1), s8.argmax(axis=-1)
    rows = np.nonzero(best32 != best8)[0]
    return float(max((s32[r, best32[r]] - s32[r, best8[r]] for r in rows), default=0.0))


def encoder_parity(fp32: dict, int8: dict) -> dict:
    """Max abs difference of each output (and fp32's largest magnitude, its scale); the smallest
    cosine between an fp32 and an int8 embedding."""
    out = {"max_abs_diff": {name: _max_abs(fp32[name], int8[name]) for name in fp32},
           "fp32_max_abs": {name: float(np.abs(fp32[name]).max()) for name in fp32}}
    if "embedding" in fp32:
        out["embedding_cosine_min"] = _cosine_min(fp32["embedding"], int8["embedding"])
    return out


def image_outputs(run_: Run) -> dict:
    """The image outputs as one array per output; token features of different sizes flattened
    (ViLT) so that one max and one cosine covers every image."""
    names = run_.images[0].keys()
    out = {}
    for name in names:
        stacked = run_.image_output(name)
        out[name] = stacked if stacked is not None else np.concatenate([o[name].reshape(-1) for o in run_.images])[None]
    return out


def itm_parity(fp32: dict, int8: dict) -> dict:
    """ITM logits ``[image, caption, 2]`` per direction: max abs difference of both logits and of
    the match logit (``[..., 1]``, the score), and the top-1 agreement of each direction's ranking."""
    return {
        "itm_logits_max_abs_diff": {d: _max_abs(fp32[d], int8[d]) for d in fp32},
        "match_logit_max_abs_diff": {d: _max_abs(fp32[d][..., 1], int8[d][..., 1]) for d in fp32},
        "fp32_match_logit_max_abs": float(max(np.abs(fp32[d][..., 1]).max() for d in fp32)),
        # text_to_image: each caption's best image (argmax over images); image_to_text: each image's best caption
        "top1_agreement": {"text_to_image": _agreement(fp32["text_to_image"][..., 1], int8["text_to_image"][..., 1], 0),
                           "image_to_text": _agreement(fp32["image_to_text"][..., 1], int8["image_to_text"][..., 1], 1)},
        "top1_flip_fp32_margin_max": {
            "text_to_image": _flip_margin(fp32["text_to_image"][..., 1], int8["text_to_image"][..., 1], 0),
            "image_to_text": _flip_margin(fp32["image_to_text"][..., 1], int8["image_to_text"][..., 1], 1)},
    }


def itc_parity(fp32: Run, int8: Run) -> dict | None:
    if "embedding" not in fp32.texts:
        return None
    sim32 = fp32.image_output("embedding") @ fp32.texts["embedding"].T
    sim8 = int8.image_output("embedding") @ int8.texts["embedding"].T
    return {"similarity_max_abs_diff": _max_abs(sim32, sim8),
            "top1_agreement": {"text_to_image": _agreement(sim32, sim8, 0), "image_to_text": _agreement(sim32, sim8, 1)}}


def graph_parity(key: str, fp32: Run, candidate: Run) -> dict:
    """One int8 graph (``candidate``: that graph int8, its inputs from the fp32 graphs) against fp32."""
    if key == "image_encoder":
        return encoder_parity(image_outputs(fp32), image_outputs(candidate))
    if key == "text_encoder":
        return encoder_parity(fp32.texts, candidate.texts)
    return itm_parity(fp32.itm, candidate.itm)


def cpu_int8_instructions() -> dict:
    """The machine and the int8 dot-product instructions its CPU has (what the MLAS kernels use)."""
    flags: set = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ("avx2", "avx512_vnni", "avx_vnni", "amx_int8")
    return {"machine": platform.machine(), "flags": [f for f in wanted if f in flags]}


# --------------------------------------------------------------------------------------------
# quantizing one graph


class _Feeds(CalibrationDataReader):
    def __init__(self, feeds: list):
        self.feeds = feeds
        self.position = 0

    def get_next(self):
        if self.position >= len(self.feeds):
            return None
        self.position += 1
        return self.feeds[self.position - 1]

    def rewind(self):
        self.position = 0


def calibration_feeds(key: str, runner: Runner, inputs: Inputs) -> list:
    """What the static quantizer runs ``key``'s fp32 graph on: batches of the images, of the
    captions, and for the fusion graph every image with every caption (fp32 token features)."""
    if key == "image_encoder":
        feeds = []
        for shape in dict.fromkeys(p.shape for p in inputs.pixels):
            same = [p for p in inputs.pixels if p.shape == shape]
            feeds += [{"pixels": np.concatenate(same[i:i + CALIBRATION_BATCH])} for i in range(0, len(same), CALIBRATION_BATCH)]
        return feeds
    if key == "text_encoder":
        return [{"input_ids": inputs.ids[i:i + CALIBRATION_BATCH], "attention_mask": inputs.mask[i:i + CALIBRATION_BATCH]}
                for i in range(0, inputs.ids.shape[0], CALIBRATION_BATCH)]
    recorded: list = []
    runner.itm(inputs, runner.images(inputs.pixels), runner.texts(inputs.ids, inputs.mask), record=recorded,
               directions=("image_to_text",))
    return recorded


def fold_constants(source: Path, target: Path) -> Path:
    """``source`` after ONNX Runtime's basic graph optimizations (constant folding, redundant-node
    elimination; ONNX ops only, nothing machine-specific), so that a weight the exporter left
    behind a constant ``Transpose`` or ``Reshape`` is an initializer the quantizer can see.

    ``quantization.shape_inference.quant_pre_process`` would do this after symbolic shape
    inference, which fails ("Incomplete symbolic shape inference") on most of our graphs; where it
    succeeds it quantizes no more ``MatMul``\\ s than this."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    model = onnx.load(str(target))
    used = {node.domain for node in model.graph.node} | {""}
    kept = [o for o in model.opset_import if o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    onnx.save(model, str(target))
    return target


class _FoldedAlready(logging.Filter):
    """Drops the quantizer's advice to run ``quant_pre_process`` first: ``fold_constants`` did
    what it would do here."""

    def filter(self, record) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def quantize_graph(source: Path, target: Path, method: str, per_channel: bool, reduce_range: bool, feeds: list | None,
                   work: Path) -> dict:
    hint = _FoldedAlready()
    logging.getLogger().addFilter(hint)
    try:
        return _quantize_graph(source, target, method, per_channel, reduce_range, feeds, work)
    finally:
        logging.getLogger().removeFilter(hint)


def _quantize_graph(source: Path, target: Path, method: str, per_channel: bool, reduce_range: bool,
                    feeds: list | None, work: Path) -> dict:
    """Write ``target``, the int8 version of the graph ``source`` by ``method``; returns its settings."""
    weights = (f"int8 symmetric, {'7-bit range [-64, 64] (reduce_range)' if reduce_range else 'full range'}, "
               f"{'per output channel' if per_channel else 'per tensor'}")
    prepared = fold_constants(source, work / f"{source.stem}.folded.onnx")
    if method == "dynamic":
        quantize_dynamic(str(prepared), str(target), op_types_to_quantize=QUANTIZED_OPS, per_channel=per_channel,
                         reduce_range=reduce_range, weight_type=QuantType.QInt8, extra_options={"MatMulConstBOnly": True})
        settings = {"weights": weights,
                    "activations": "uint8 asymmetric, per tensor, scale computed at run time (DynamicQuantizeLinear)"}
    elif method == "static":
        # The static quantizer ignores MatMulConstBOnly: name the products of two activations (attention).
        quantize_static(str(prepared), str(target), _Feeds(feeds), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=QUANTIZED_OPS, per_channel=per_channel, reduce_range=reduce_range,
                        activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=activation_products(onnx.load(str(prepared))))
        settings = {"weights": weights,
                    "activations": "int8, per tensor, fixed scales from MinMax calibration (QDQ)"}
    else:
        raise ValueError(f"unknown method [{method}]; valid methods: dynamic, static")
    keep_signature(source, target)
    quantized, fp32 = matmul_counts(onnx.load(str(target)))
    counts = node_counts(onnx.load(str(target)))
    settings["quantized"] = {"MatMul": quantized}
    # fp32 MatMuls left: products of two activations (attention); Gemm: static leaves it; Conv: the patch embedding.
    settings["kept_fp32"] = {op: n for op, n in (("MatMul", fp32), ("Gemm", counts.get("Gemm", 0)),
                                                 ("Conv", counts.get("Conv", 0))) if n}
    return settings


def activation_products(model: onnx.ModelProto) -> list[str]:
    """Names of the ``MatMul`` nodes whose second input is not a weight (an initializer)."""
    weights = {t.name for t in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] not in weights]


def keep_signature(source: Path, target: Path) -> None:
    """Give the int8 graph exactly the fp32 graph's inputs and outputs (names, element types,
    shapes and their axis names: shape inference may rename a dynamic axis), then check it."""
    fp32, int8 = onnx.load(str(source)), onnx.load(str(target))
    for field in ("input", "output"):
        before, after = getattr(fp32.graph, field), getattr(int8.graph, field)
        if [v.name for v in before] != [v.name for v in after]:
            raise RuntimeError(f"quantizing [{source.name}] changed its {field}s {[v.name for v in before]} to "
                               f"{[v.name for v in after]}")
        del after[:]
        after.extend(before)
    onnx.checker.check_model(int8)
    onnx.save(int8, str(target))


def matmul_counts(model: onnx.ModelProto) -> tuple[int, int]:
    """How many matrix products of a graph are int8 (``MatMulInteger``, ``QLinearMatMul``, or a
    ``MatMul`` whose weight comes out of a ``DequantizeLinear``: QDQ) and how many stay fp32."""
    made_by = {output: node.op_type for node in model.graph.node for output in node.output}
    quantized = fp32 = 0
    for node in model.graph.node:
        if node.op_type in ("MatMulInteger", "QLinearMatMul"):
            quantized += 1
        elif node.op_type == "MatMul":
            if made_by.get(node.input[1]) == "DequantizeLinear":
                quantized += 1
            else:
                fp32 += 1
    return quantized, fp32


def node_counts(model: onnx.ModelProto) -> dict:
    counts: dict = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


# --------------------------------------------------------------------------------------------
# a bundle


def quantize_bundle(bundle: Path, method: str = "dynamic", per_channel: bool = True, reduce_range: bool = True,
                    calibration: Inputs | None = None, calibration_about: dict | None = None,
                    evaluation: Inputs | None = None, evaluation_about: dict | None = None) -> dict:
    """Add the int8 graphs and ``precisions`` to ``bundle`` in place; returns the manifest.

    ``calibration``: the inputs a ``static`` graph is calibrated on (default: the reference's);
    ``evaluation``: more inputs (an annotation file's) that parity is also measured on, and that
    ``auto`` chooses by; the ``*_about`` dicts say in the manifest what they are. Everything is
    made and measured in a temporary directory; the bundle changes only at the end (earlier int8
    graphs replaced, the manifest rewritten)."""
    if method not in METHODS:
        raise ValueError(f"unknown method [{method}]; valid methods: {list(METHODS)}")
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    reference = reference_inputs(bundle)
    fp32_files = {key: manifest["graphs"][key]["file"] for key in GRAPHS}
    fp32_runner = Runner(bundle, manifest, fp32_files)
    fp32 = run(fp32_runner, reference)
    methods = {"dynamic": ["dynamic"], "static": ["static"],
               "auto": ["dynamic"] + (["static"] if calibration is not None else [])}[method]
    if "static" in methods and calibration is None:
        calibration = reference
        calibration_about = {"source": reference.source, **reference.counts,
                             "note": "the parity inputs themselves: the scales are tuned to them"}

    with tempfile.TemporaryDirectory(prefix="fuserank-int8-") as tmp:
        work = Path(tmp)
        built = {}  # key -> method -> (file: a path in work, or the fp32 graph's name for "none"; settings)
        for key in GRAPHS:
            feeds = calibration_feeds(key, fp32_runner, calibration) if "static" in methods else None
            built[key] = {}
            for m in methods:
                target = work / f"{m}.{int8_file(key)}"
                built[key][m] = (str(target), quantize_graph(bundle / fp32_files[key], target, m, per_channel,
                                                            reduce_range, feeds, work))
            if all(about["quantized"]["MatMul"] == 0 for _, about in built[key].values()):
                # Nothing to quantize (ViLT's encoders are its embeddings: a patch Conv and lookups):
                # the int8 precision runs the fp32 graph, and names its file.
                built[key] = {"none": (fp32_files[key], {
                    "reason": "no MatMul with a constant weight: the int8 precision uses the fp32 graph"})}
        chosen, tried = choose(bundle, manifest, built, evaluation or reference)
        made = {key: built[key][m][0] for key, m in chosen.items()}
        parity = measure(bundle, manifest, made, reference, fp32, fp32_runner, evaluation, evaluation_about)
        if tried:
            parity["combinations"] = tried

        _remove_int8(bundle, manifest)
        int8_files = {}
        for key, m in chosen.items():
            int8_files[key] = fp32_files[key] if m == "none" else int8_file(key)
            if m != "none":
                shutil.copyfile(made[key], bundle / int8_files[key])

    settings = {key: built[key][m][1] for key, m in chosen.items()}
    if tried:
        for key in GRAPHS:
            settings[key]["chosen_by"] = (f"auto: of every combination of {list(built[key])} per graph, the closest to "
                                          f"fp32 end to end on {'the evaluation' if evaluation else 'the reference'} inputs")
    section = {
        "graphs": {key: {"file": int8_files[key]} for key in GRAPHS},
        "method": chosen,
        "settings": settings,
        "calibration": calibration_about if "static" in chosen.values() else None,
        "parity": parity,
        "onnxruntime": ort.__version__,
    }
    precisions = dict(manifest.get("precisions") or {})
    precisions.setdefault("default", "fp32")
    precisions[PRECISION] = section
    return write_manifest(bundle, manifest, precisions)


def measure(bundle: Path, manifest: dict, int8_files: dict, reference: Inputs, fp32: Run, fp32_runner: Runner,
            evaluation: Inputs | None, evaluation_about: dict | None) -> dict:
    """``precisions.int8.parity``: each int8 graph alone and the three end to end on the reference,
    and end to end on ``evaluation`` where given."""
    fp32_files = {key: manifest["graphs"][key]["file"] for key in GRAPHS}
    graphs = {}
    for key in GRAPHS:
        isolated = run(Runner(bundle, manifest, dict(fp32_files, **{key: int8_files[key]})), reference,
                       image_out=None if key == "image_encoder" else fp32.images,
                       text_out=None if key == "text_encoder" else fp32.texts)
        graphs[key] = graph_parity(key, fp32, isolated)
    int8_runner = Runner(bundle, manifest, int8_files)
    parity = {"inputs": {"source": reference.source, **reference.counts,
                         "pairs": reference.counts["images"] * reference.counts["captions"]},
              "cpu": cpu_int8_instructions(),
              "graphs": graphs,
              "end_to_end": end_to_end_parity(fp32, run(int8_runner, reference))}
    if evaluation is not None:
        fp32_eval, int8_eval = run(fp32_runner, evaluation), run(int8_runner, evaluation)
        parity["evaluation"] = {"inputs": {**(evaluation_about or {"source": evaluation.source}), **evaluation.counts,
                                           "pairs": evaluation.counts["images"] * evaluation.counts["captions"]},
                                **end_to_end_parity(fp32_eval, int8_eval),
                                "recall_at_1": {"fp32": recall_at_1(fp32_eval), "int8": recall_at_1(int8_eval)}}
    return parity


def end_to_end_parity(fp32: Run, int8: Run) -> dict:
    out = {"image_encoder": encoder_parity(image_outputs(fp32), image_outputs(int8)),
           "text_encoder": encoder_parity(fp32.texts, int8.texts), **itm_parity(fp32.itm, int8.itm)}
    itc = itc_parity(fp32, int8)
    if itc is not None:
        out["itc"] = itc
    return out


def recall_at_1(result: Run) -> dict:
    """Where image i's own caption is caption i (an annotation file's first caption of each
    image): the fraction of captions whose best image by ITM match logit is their own, and of
    images whose best caption is theirs; the same by ITC where the model has embeddings."""
    diagonal = np.arange(len(result.images))
    out = {"itm": {"text_to_image": float((result.itm["text_to_image"][..., 1].argmax(axis=0) == diagonal).mean()),
                   "image_to_text": float((result.itm["image_to_text"][..., 1].argmax(axis=1) == diagonal).mean())}}
    if "embedding" in result.texts:
        sim = result.image_output("embedding") @ result.texts["embedding"].T
        out["itc"] = {"text_to_image": float((sim.argmax(axis=0) == diagonal).mean()),
                      "image_to_text": float((sim.argmax(axis=1) == diagonal).mean())}
    return out


def end_to_end_distance(parity: dict) -> tuple:
    """How far int8 end to end is from fp32 (smaller is closer): first the top-1 disagreements
    (ITM, then ITC), then the match logit's largest difference."""
    agree = sum(parity["top1_agreement"].values()) + sum(parity.get("itc", {}).get("top1_agreement", {}).values())
    return (-agree, max(parity["match_logit_max_abs_diff"].values()))


def choose(bundle: Path, manifest: dict, built: dict, inputs: Inputs) -> tuple[dict, dict]:
    """The method per graph whose combination is closest to fp32 end to end on ``inputs``, and
    every combination's distance (``{"image_encoder=dynamic,...": [...]}``) where there was a choice."""
    combinations = list(itertools.product(*[[(key, m) for m in built[key]] for key in GRAPHS]))
    if len(combinations) == 1:
        return dict(combinations[0]), {}
    fp32 = run(Runner(bundle, manifest, {key: manifest["graphs"][key]["file"] for key in GRAPHS}), inputs)
    distances = {}
    for combination in combinations:
        runner = Runner(bundle, manifest, {key: built[key][m][0] for key, m in combination})
        distances[combination] = end_to_end_distance(end_to_end_parity(fp32, run(runner, inputs)))
    best = min(distances, key=distances.get)
    return dict(best), {",".join(f"{k}={m}" for k, m in c): list(d) for c, d in distances.items()}


def _remove_int8(bundle: Path, manifest: dict) -> None:
    """Delete an earlier run's int8 graphs (never a file the fp32 ``graphs`` name)."""
    fp32 = {manifest["graphs"][key]["file"] for key in GRAPHS}
    earlier = ((manifest.get("precisions") or {}).get(PRECISION) or {}).get("graphs") or {}
    names = {int8_file(key) for key in GRAPHS} | {g.get("file") for g in earlier.values() if isinstance(g, dict)}
    for name in names - fp32 - {None}:
        path = (bundle / name).resolve()
        if path.parent == bundle.resolve() and path.is_file():
            path.unlink()


def write_manifest(bundle: Path, manifest: dict, precisions: dict) -> dict:
    """The manifest with ``precisions`` right after ``graphs`` and ``files`` recomputed."""
    out = {}
    for key, value in manifest.items():
        if key in ("precisions", "files"):
            continue
        out[key] = value
        if key == "graphs":
            out["precisions"] = precisions
    out["files"] = file_entries(bundle)
    (bundle / "manifest.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return out


def summary(bundle: Path, manifest: dict) -> dict:
    """What the CLI prints: each graph's fp32 and int8 bytes, the methods, the headline parity."""
    section = manifest["precisions"][PRECISION]
    files = manifest["files"]
    e2e = section["parity"]["end_to_end"]
    return {"bundle": str(bundle),
            "bytes": {key: {"fp32": files[manifest["graphs"][key]["file"]]["bytes"],
                            "int8": files[section["graphs"][key]["file"]]["bytes"]} for key in GRAPHS},
            "method": section["method"],
            "end_to_end": {"match_logit_max_abs_diff": e2e["match_logit_max_abs_diff"],
                           "top1_agreement": e2e["top1_agreement"],
                           **({"itc_top1_agreement": e2e["itc"]["top1_agreement"]} if "itc" in e2e else {})}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Add int8 versions of a bundle's three graphs beside its fp32 graphs.")
    p.add_argument("bundle", type=Path)
    p.add_argument("--method", default="dynamic", choices=METHODS,
                   help="dynamic (default), static (QDQ, calibrated), or auto: per graph whichever is closer to fp32")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor (default: per output channel)")
    p.add_argument("--full-range", action="store_true",
                   help="weights in int8's full range (default: 7 bits, which the u8s8 kernels of CPUs without VNNI "
                        "sum without saturating)")
    p.add_argument("--calibration-ann", type=Path, help="a Karpathy annotation file whose images and captions calibrate static graphs")
    p.add_argument("--calibration-items", type=int, default=64, help="how many of its images (and their first captions)")
    p.add_argument("--parity-ann", type=Path,
                   help="a Karpathy annotation file whose images and captions parity is also measured on (and auto chooses by)")
    p.add_argument("--parity-items", type=int, default=32, help="how many of its images (and their first captions)")
    p.add_argument("--image-root", type=Path, help="the directory the annotation files' image paths are relative to")
    args = p.parse_args(argv)
    annotations = [a for a in (args.calibration_ann, args.parity_ann) if a is not None]
    if annotations and args.image_root is None:
        p.error("--calibration-ann and --parity-ann need --image-root")
    for name in ("calibration_items", "parity_items"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} [{getattr(args, name)}] must be at least 1")
    if args.calibration_ann is not None and args.method == "dynamic":
        p.error("--calibration-ann calibrates static graphs: use --method static or auto")
    try:
        calibration = calibration_about = evaluation = evaluation_about = None
        if annotations:
            manifest = read_manifest(args.bundle)
        if args.calibration_ann is not None:
            calibration = annotation_inputs(manifest, args.bundle, args.calibration_ann, args.image_root, args.calibration_items)
            calibration_about = {"source": calibration.source, "sha256": sha256(args.calibration_ann),
                                 **calibration.counts, "preprocessing": "the bundle's own (data.ImageTransform, TextTokenizer)"}
        if args.parity_ann is not None:
            evaluation = annotation_inputs(manifest, args.bundle, args.parity_ann, args.image_root, args.parity_items)
            evaluation_about = {"source": evaluation.source, "sha256": sha256(args.parity_ann)}
        manifest = quantize_bundle(args.bundle, args.method, not args.per_tensor, not args.full_range, calibration,
                                   calibration_about,
                                   evaluation, evaluation_about)
    except (BundleError, ValueError, OSError) as e:  # OSError: an annotation file's missing image
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary(args.bundle, manifest), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
