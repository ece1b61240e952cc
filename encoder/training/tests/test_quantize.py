"""quantize.py: int8 graphs beside a bundle's fp32 graphs, on copies of the committed bundles (the
tiny imports the Java tests pin, and models/fuserank-small). The committed directories are only
read."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import quantize
import scenes
from bundle_io import file_entries, read_reference

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "encoder" / "src" / "test" / "resources" / "bundles"
BUNDLES = {"blip-tiny": FIXTURES / "blip-tiny", "albef-tiny": FIXTURES / "albef-tiny",
           "bridgetower-tiny": FIXTURES / "bridgetower-tiny", "vilt-tiny": FIXTURES / "vilt-tiny",
           "fuserank-small": ROOT / "models" / "fuserank-small"}
INTEGER_NODES = {"MatMulInteger", "DynamicQuantizeLinear"}


def manifest(bundle):
    return json.loads((bundle / "manifest.json").read_text())


def copy(name, directory):
    """A copy of a committed bundle without any int8 graphs it may already have."""
    out = directory / name
    shutil.copytree(BUNDLES[name], out)
    m = manifest(out)
    for graph in (m.pop("precisions", {}).get("int8", {}).get("graphs", {})).values():
        if graph["file"] not in {g["file"] for g in m["graphs"].values()}:
            (out / graph["file"]).unlink()
    m["files"] = file_entries(out)
    (out / "manifest.json").write_text(json.dumps(m, indent=1) + "\n")
    return out


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """Every committed bundle, copied and quantized by the default method (dynamic)."""
    out = {}
    for name in BUNDLES:
        bundle = copy(name, tmp_path_factory.mktemp("int8"))
        before = manifest(bundle)
        quantize.quantize_bundle(bundle)
        out[name] = (bundle, before)
    return out


@pytest.mark.parametrize("name", list(BUNDLES))
def test_int8_graphs_load_with_the_fp32_signatures(quantized, name):
    """ONNX Runtime loads every int8 graph, and its inputs and outputs are the fp32 graph's (names,
    element types, shapes), which is also what the manifest declares: what ModelBundle checks."""
    bundle, _ = quantized[name]
    m = manifest(bundle)
    section = m["precisions"]["int8"]
    assert m["precisions"]["default"] == "fp32"
    assert section["onnxruntime"] == ort.__version__
    for key in quantize.GRAPHS:
        fp32 = ort.InferenceSession(str(bundle / m["graphs"][key]["file"]), providers=["CPUExecutionProvider"])
        int8 = ort.InferenceSession(str(bundle / section["graphs"][key]["file"]), providers=["CPUExecutionProvider"])
        for side in ("get_inputs", "get_outputs"):
            expected = [(t.name, t.type, t.shape) for t in getattr(fp32, side)()]
            assert [(t.name, t.type, t.shape) for t in getattr(int8, side)()] == expected, (key, side)
        spec = m["graphs"][key]
        for declared, actual in zip(spec["inputs"] + spec["outputs"], int8.get_inputs() + int8.get_outputs()):
            assert declared["name"] == actual.name
            assert actual.type == {"float32": "tensor(float)", "int64": "tensor(int64)"}[declared["dtype"]]
            for axis, dim in zip(declared["shape"], actual.shape):
                assert dim == axis if isinstance(axis, int) else not isinstance(dim, int), (key, declared, actual.shape)


@pytest.mark.parametrize("name", list(BUNDLES))
def test_every_file_is_listed_with_its_sha256(quantized, name):
    bundle, before = quantized[name]
    files = manifest(bundle)["files"]
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert set(files) == on_disk
    for path, entry in files.items():
        data = (bundle / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], path
        assert len(data) == entry["bytes"], path
    # The fp32 graphs and everything else are untouched.
    for path, entry in before["files"].items():
        assert files[path] == entry, path
    for key in quantize.GRAPHS:
        assert manifest(bundle)["graphs"][key] == before["graphs"][key]


@pytest.mark.parametrize("name", list(BUNDLES))
def test_int8_graphs_compute_in_integers(quantized, name):
    """Each int8 graph has MatMulInteger and DynamicQuantizeLinear nodes for every MatMul with a
    weight (so a quantizer that silently did nothing fails here), and ONNX Runtime fuses them into
    its int8 kernels; a graph without such a MatMul (ViLT's encoders are embeddings) names the fp32 file."""
    bundle, _ = quantized[name]
    m = manifest(bundle)
    section = m["precisions"]["int8"]
    for key in quantize.GRAPHS:
        graph = onnx.load(str(bundle / section["graphs"][key]["file"]))
        ops = quantize.node_counts(graph)
        if section["method"][key] == "none":
            assert section["graphs"][key]["file"] == m["graphs"][key]["file"]
            assert name == "vilt-tiny" and key != "fusion_itm"
            weights = {t.name for t in graph.graph.initializer}
            assert not [n for n in graph.graph.node if n.op_type == "MatMul" and n.input[1] in weights]
            continue
        assert section["method"][key] == "dynamic"
        assert section["graphs"][key]["file"] == f"{key}.int8.onnx"
        assert INTEGER_NODES <= set(ops), (key, ops)
        assert ops["MatMulInteger"] == section["settings"][key]["quantized"]["MatMul"] > 0
        weights = {t.name for t in graph.graph.initializer}
        assert not [n.name for n in graph.graph.node if n.op_type == "MatMul" and n.input[1] in weights], key
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(bundle.parent / f"{name}.{key}.optimized.onnx")
        ort.InferenceSession(str(bundle / section["graphs"][key]["file"]), options, providers=["CPUExecutionProvider"])
        fused = quantize.node_counts(onnx.load(options.optimized_model_filepath))
        assert fused.get("DynamicQuantizeMatMul", 0) + fused.get("MatMulIntegerToFloat", 0) > 0, fused
    assert section["calibration"] is None


def test_fuserank_small_int8_ranks_as_fp32(quantized):
    """The trained model's int8 graphs keep every reference caption's best image and every image's
    best caption, by ITM and by ITC. Measured (ORT 1.29, AVX2 without VNNI): match logit within
    0.024 (text to image) and 0.037 (image to text) of fp32 for logits up to 4.6, embeddings at
    cosine >= 0.99995. The bounds leave about 3x room for other CPUs' kernels."""
    bundle, _ = quantized["fuserank-small"]
    parity = manifest(bundle)["precisions"]["int8"]["parity"]
    e2e = parity["end_to_end"]
    assert parity["inputs"] == {"source": "reference/reference.json", "images": 4, "captions": 4, "pairs": 16}
    assert e2e["top1_agreement"] == {"text_to_image": 1.0, "image_to_text": 1.0}
    assert e2e["itc"]["top1_agreement"] == {"text_to_image": 1.0, "image_to_text": 1.0}
    assert max(e2e["match_logit_max_abs_diff"].values()) <= 0.1
    assert e2e["fp32_match_logit_max_abs"] > 4
    for key in ("image_encoder", "text_encoder"):
        assert e2e[key]["embedding_cosine_min"] >= 0.9995, key
        assert e2e[key]["max_abs_diff"]["token_features"] <= 0.1, key
    for key in quantize.GRAPHS:  # each int8 graph alone is no further from fp32 than all three together
        assert parity["graphs"][key]
    assert max(parity["graphs"]["fusion_itm"]["match_logit_max_abs_diff"].values()) <= 0.1


def test_fuserank_small_int8_reproduces_the_pytorch_reference(quantized):
    """Independently of quantize.py's own runner: the int8 graphs on the reference inputs, batched
    as test_shipped_bundle batches the fp32 ones, against the PyTorch outputs stored in the bundle."""
    bundle, _ = quantized["fuserank-small"]
    m = manifest(bundle)
    graphs = m["precisions"]["int8"]["graphs"]

    def session(key):
        return ort.InferenceSession(str(bundle / graphs[key]["file"]), providers=["CPUExecutionProvider"])

    img_emb, img_feat = session("image_encoder").run(None, {"pixels": read_reference(bundle, "pixels")})
    ids, mask = read_reference(bundle, "input_ids"), read_reference(bundle, "attention_mask")
    txt_emb, txt_feat = session("text_encoder").run(None, {"input_ids": ids, "attention_mask": mask})
    n_img, n_txt = img_feat.shape[0], txt_feat.shape[0]
    (logits,) = session("fusion_itm").run(None, {
        "text_features": np.tile(txt_feat, (n_img, 1, 1)), "text_mask": np.tile(mask, (n_img, 1)),
        "image_features": np.repeat(img_feat, n_txt, axis=0),
        "image_mask": np.ones((n_img * n_txt, m["token_features"]["image_tokens"]), dtype=np.int64)})
    reference = read_reference(bundle, "itm_logits")[..., 1]
    match = logits.reshape(n_img, n_txt, 2)[..., 1]
    assert np.abs(match - reference).max() <= 0.1
    assert (match.argmax(axis=0) == reference.argmax(axis=0)).all()
    assert (match.argmax(axis=1) == reference.argmax(axis=1)).all()
    np.testing.assert_allclose(img_emb, read_reference(bundle, "image_embedding"), atol=0.01)
    np.testing.assert_allclose(txt_emb, read_reference(bundle, "text_embedding"), atol=0.01)


@pytest.mark.parametrize("name", [n for n in BUNDLES if n != "fuserank-small"])
def test_random_weight_imports_stay_close(quantized, name):
    """The tiny imports have random weights 16 to 32 wide, so their ITM logits (|logit| <= 1.5) sit
    close together. Measured: match logit within 0.18 of fp32, embeddings at cosine >= 0.998; one
    ViLT image's best caption changes between two captions fp32 scores 0.0003 apart. So: within
    0.3, cosine >= 0.99, and a changed best only where fp32 all but ties (lead under the largest
    logit difference)."""
    bundle, _ = quantized[name]
    e2e = manifest(bundle)["precisions"]["int8"]["parity"]["end_to_end"]
    assert max(e2e["match_logit_max_abs_diff"].values()) <= 0.3
    for key in ("image_encoder", "text_encoder"):
        if "embedding_cosine_min" in e2e[key]:
            assert e2e[key]["embedding_cosine_min"] >= 0.99, key
    for direction, agreement in e2e["top1_agreement"].items():
        if agreement < 1:
            assert e2e["top1_flip_fp32_margin_max"][direction] < e2e["match_logit_max_abs_diff"][direction]


def test_rerunning_replaces_the_int8_section(tmp_path):
    """A second run gives the same files and manifest; a run with other settings replaces them."""
    bundle = copy("albef-tiny", tmp_path)
    first = quantize.quantize_bundle(bundle)
    graphs = {p.name: p.read_bytes() for p in bundle.glob("*.onnx")}
    second = quantize.quantize_bundle(bundle)
    assert second == first
    assert {p.name: p.read_bytes() for p in bundle.glob("*.onnx")} == graphs
    third = quantize.quantize_bundle(bundle, per_channel=False)
    assert "per tensor" in third["precisions"]["int8"]["settings"]["fusion_itm"]["weights"]
    assert third["files"]["fusion_itm.int8.onnx"] != first["files"]["fusion_itm.int8.onnx"]
    assert sorted(p.name for p in bundle.glob("*.onnx")) == sorted(graphs)


def test_static_qdq_is_calibrated_on_the_reference_by_default(tmp_path):
    bundle = copy("albef-tiny", tmp_path)
    m = quantize.quantize_bundle(bundle, method="static")
    section = m["precisions"]["int8"]
    assert section["method"] == {key: "static" for key in quantize.GRAPHS}
    assert section["calibration"]["source"] == "reference/reference.json"
    for key in quantize.GRAPHS:
        ops = quantize.node_counts(onnx.load(str(bundle / section["graphs"][key]["file"])))
        assert ops.get("QuantizeLinear", 0) > 0 and ops.get("DequantizeLinear", 0) > 0, (key, ops)
        assert section["settings"][key]["quantized"]["MatMul"] > 0
    assert max(section["parity"]["end_to_end"]["match_logit_max_abs_diff"].values()) <= 0.5


def test_auto_chooses_per_graph_on_an_annotation_file(tmp_path):
    """--method auto with calibration and parity images and captions of an annotation file, read
    with the bundle's own preprocessing: every combination is measured and the closest kept."""
    data = tmp_path / "scenes"
    scenes.generate(data, n_train=0, n_val=6, n_test=6, seed=5, image_size=32)
    bundle = copy("albef-tiny", tmp_path)
    assert quantize.main([str(bundle), "--method", "auto", "--calibration-ann", str(data / "val.json"),
                          "--calibration-items", "6", "--parity-ann", str(data / "test.json"), "--parity-items", "6",
                          "--image-root", str(data)]) == 0
    section = manifest(bundle)["precisions"]["int8"]
    combinations = section["parity"]["combinations"]
    assert len(combinations) == 8
    best = ",".join(f"{key}={section['method'][key]}" for key in quantize.GRAPHS)
    assert combinations[best] == min(combinations.values())
    evaluation = section["parity"]["evaluation"]
    assert evaluation["inputs"]["images"] == evaluation["inputs"]["captions"] == 6
    assert set(evaluation["recall_at_1"]) == {"fp32", "int8"}
    if "static" in section["method"].values():
        assert section["calibration"]["images"] == 6


def test_bundles_it_cannot_quantize_are_named(tmp_path, capsys):
    with pytest.raises(quantize.BundleError, match=r"is not a directory"):
        quantize.quantize_bundle(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(quantize.BundleError, match=r"empty\] is not a model bundle: it has no \[manifest.json\]"):
        quantize.quantize_bundle(tmp_path / "empty")
    bundle = copy("blip-tiny", tmp_path)
    (bundle / "text_encoder.onnx").unlink()
    with pytest.raises(quantize.BundleError, match=r"lacks graph \[text_encoder.onnx\] named by \[manifest.json\] "
                                                   r"field \[graphs.text_encoder.file\]"):
        quantize.quantize_bundle(bundle)
    bundle = copy("blip-tiny", tmp_path / "other")
    m = manifest(bundle)
    del m["graphs"]["fusion_itm"]
    (bundle / "manifest.json").write_text(json.dumps(m))
    assert quantize.main([str(bundle)]) == 2
    assert "field [graphs.fusion_itm.file] is missing" in capsys.readouterr().err


def test_onnx_runtime_computes_the_int8_graphs_exactly(quantized):
    """With 7-bit weights the u8s8 kernels cannot saturate (CPUs without VNNI add u8 x s8 pairs in
    16 bits), so ONNX Runtime's int8 graphs give what exact integer arithmetic (``onnx.reference``)
    gives: the parity measured on one CPU holds on others. Measured on AVX2: within 1e-6 for the
    text encoder and the fusion graph, under 0.01 for the image encoder's token features (one
    activation rounded the other way); with 8-bit weights 0.13."""
    from onnx.reference import ReferenceEvaluator

    bundle, _ = quantized["fuserank-small"]
    m = manifest(bundle)
    graphs = m["precisions"]["int8"]["graphs"]
    ids, mask = read_reference(bundle, "input_ids"), read_reference(bundle, "attention_mask")
    feeds = {"image_encoder": {"pixels": read_reference(bundle, "pixels")},
             "text_encoder": {"input_ids": ids, "attention_mask": mask}}
    txt_feat = read_reference(bundle, "text_token_features")
    img_feat = read_reference(bundle, "image_token_features")
    feeds["fusion_itm"] = {"text_features": txt_feat, "text_mask": mask, "image_features": img_feat,
                           "image_mask": np.ones(img_feat.shape[:2], dtype=np.int64)}
    for key, bound in (("image_encoder", 0.02), ("text_encoder", 1e-3), ("fusion_itm", 1e-3)):
        path = str(bundle / graphs[key]["file"])
        actual = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds[key])
        exact = ReferenceEvaluator(path).run(None, feeds[key])
        for a, e in zip(actual, exact):
            assert np.abs(a - e).max() <= bound, key


def test_import_model_writes_int8_graphs_on_request(tmp_path, capsys):
    """import_model.py --int8 on a tiny random BLIP checkpoint; importing again without it removes them."""
    import import_model
    from tools.random_blip_checkpoint import tiny_config, write_checkpoint

    checkpoint = write_checkpoint(tmp_path / "blip", tiny_config(), seed=2)
    out = tmp_path / "bundle"
    assert import_model.main([str(checkpoint), "--out", str(out), "--int8"]) == 0
    printed = json.loads(capsys.readouterr().out)
    m = manifest(out)
    assert m["precisions"]["int8"]["method"] == {key: "dynamic" for key in quantize.GRAPHS}
    assert printed["int8"]["method"] == m["precisions"]["int8"]["method"]
    assert {f"{key}.int8.onnx" for key in quantize.GRAPHS} <= set(m["files"])
    assert import_model.main([str(checkpoint), "--out", str(out)]) == 0
    assert "precisions" not in manifest(out) and not list(out.glob("*.int8.onnx"))
    assert set(manifest(out)["files"]) == {p.relative_to(out).as_posix() for p in out.rglob("*")
                                           if p.is_file() and p.name != "manifest.json"}


def test_annotation_files_need_a_preprocessing_this_side_reproduces(tmp_path, capsys):
    """ViLT's shortest-edge resize is not data.ImageTransform's: its parity stays on the reference."""
    bundle = copy("vilt-tiny", tmp_path)
    assert quantize.main([str(bundle), "--parity-ann", str(tmp_path / "test.json"), "--image-root", str(tmp_path)]) == 2
    assert "field [image] (size [None], resize [pil_bicubic], shortest_edge) is not a rule data.ImageTransform " \
           "reproduces" in capsys.readouterr().err
    assert "precisions" not in manifest(bundle)
