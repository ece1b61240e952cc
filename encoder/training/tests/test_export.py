"""Export round trip: ONNX graphs that pass the checker and match PyTorch, a manifest whose
checksums and shapes are right, and reference outputs the Java tests can read."""

import hashlib
import json
import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import export
from checkpoints import model_from_checkpoint
from conftest import settings
from feature_codec import bytes_per_item
from fusion_contract import check_manifest


@pytest.fixture(scope="module")
def bundle(tiny_run, scenes_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    export.export_bundle(tiny_run / "checkpoint_best.pt", out, scenes_dir / "test.json", scenes_dir, codec="int8",
                         reference_count=3)
    return out


def manifest(bundle):
    return json.loads((bundle / "manifest.json").read_text())


def test_every_file_has_its_sha256_in_the_manifest(bundle):
    files = manifest(bundle)["files"]
    assert {"image_encoder.onnx", "text_encoder.onnx", "fusion_itm.onnx", "tokenizer.json",
            "reference/reference.json", "reference/tokenizer_fixture.json"} <= set(files)
    for name, entry in files.items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == entry["sha256"], name


def test_graphs_pass_the_checker_and_declare_the_manifest_names(bundle):
    m = manifest(bundle)
    for key, spec in m["graphs"].items():
        graph = onnx.load(str(bundle / spec["file"]))
        onnx.checker.check_model(graph, full_check=True)
        assert [i.name for i in graph.graph.input] == [t["name"] for t in spec["inputs"]]
        assert [o.name for o in graph.graph.output] == [t["name"] for t in spec["outputs"]]
        assert graph.opset_import[0].version == export.OPSET


def test_onnx_runtime_matches_pytorch_on_the_reference(bundle):
    parity = manifest(bundle)["export_check"]["max_abs_diff_vs_pytorch"]
    for name in ("image_embedding", "text_embedding", "image_token_features", "text_token_features"):
        assert parity[name] <= 1e-4, parity
    assert parity["itm_logits"] <= 1e-3, parity


def read(bundle, name):
    ref = json.loads((bundle / "reference" / "reference.json").read_text())
    entry = ref["arrays"][name]
    return np.fromfile(bundle / "reference" / entry["file"], dtype="<" + {"float32": "f4", "int64": "i8"}[entry["dtype"]]).reshape(entry["shape"])


def test_dynamic_batch_and_token_axes(bundle, tiny_run):
    """Batch 1 and a different text length give the same numbers as the reference batch."""
    text = ort.InferenceSession(str(bundle / "text_encoder.onnx"))
    ids, mask = read(bundle, "input_ids"), read(bundle, "attention_mask")
    length = int(mask[0].sum())
    emb, feats = text.run(None, {"input_ids": ids[:1, :length], "attention_mask": mask[:1, :length]})
    np.testing.assert_allclose(emb[0], read(bundle, "text_embedding")[0], atol=1e-5)
    image = ort.InferenceSession(str(bundle / "image_encoder.onnx"))
    emb, _ = image.run(None, {"pixels": read(bundle, "pixels")[1:2]})
    np.testing.assert_allclose(emb[0], read(bundle, "image_embedding")[1], atol=1e-5)


def test_reference_matches_the_checkpoint_and_the_preprocessing(bundle, tiny_run):
    import data

    model, _ = model_from_checkpoint(tiny_run / "checkpoint_best.pt")
    ref = json.loads((bundle / "reference" / "reference.json").read_text())
    pixels = read(bundle, "pixels")
    transform = data.ImageTransform(model.cfg.image_size)
    for i, image in enumerate(ref["images"]):
        np.testing.assert_array_equal(transform(bundle / image).numpy(), pixels[i])
    with torch.no_grad():
        emb, _ = model.eval().encode_image(torch.from_numpy(pixels))
    np.testing.assert_allclose(emb.numpy(), read(bundle, "image_embedding"), atol=1e-6)
    assert read(bundle, "itm_logits").shape == (3, 3, 2)


def test_manifest_describes_features_preprocessing_and_text(bundle):
    m = manifest(bundle)
    assert m["token_features"]["codec"] == "int8" and m["token_features"]["feature_layers"] == 1
    assert m["image"]["resize"] == "bilinear_half_pixel_no_antialias"
    assert m["text"]["max_tokens"] == 16 and m["embedding"]["normalized"] is True
    assert m["fusion_flops_per_pair"] > 0
    assert m["rerank"]["itc_weight"] == 1.0, "without a chosen weight the bundle recommends BLIP's sum"


def test_manifest_declares_the_fusion_inputs_and_costs(bundle):
    """The declaration of docs/model-runtime.md, consistent with the graphs; per-image blob sizes."""
    m = manifest(bundle)
    check_manifest(m)
    assert [i["source"] for i in m["fusion"]["directions"]["text_to_image"]["inputs"]] == [
        "query.token_features", "query.attention_mask", "candidate.token_features", "candidate.token_mask"]
    f = m["token_features"]
    assert m["bytes_per_image"] == bytes_per_item(f["feature_layers"], f["image_tokens"], f["width"])


def test_the_bundle_recommends_the_blend_reports_weight(tiny_run, scenes_dir, tmp_path):
    report = tmp_path / "blend.json"
    report.write_text(json.dumps({"chosen_itc_weight": {"16": 64.0, "32": 128.0}, "val_ir_r1": {"ITC": 50.0},
                                  "test": {"ITC": {"img_r1": 40.0}, "ITC+ITM k=16 +64xITC": {"img_r1": 45.0},
                                           "ITC+ITM k=32 +128xITC": {"img_r1": 46.0}}}))
    out = tmp_path / "bundle"
    common = ["--checkpoint", str(tiny_run / "checkpoint_best.pt"), "--out", str(out), "--reference-ann",
              str(scenes_dir / "test.json"), "--image-root", str(scenes_dir), "--reference-count", "1"]
    export.main(common + ["--blend-report", str(report), "--blend-window", "32"])
    rerank = manifest(out)["rerank"]
    assert rerank["itc_weight"] == 128.0 and "window 32" in rerank["chosen_by"]
    assert set(rerank["test"]) == {"ITC", "ITC+ITM k=32 +128xITC"}


def test_int8_graphs_on_request_and_gone_when_exported_again_without(tiny_run, scenes_dir, tmp_path, capsys):
    """--int8 adds int8 graphs and precisions (quantize.py); exporting into the same directory without
    it leaves no int8 graph behind for ``files`` to list."""
    out = tmp_path / "bundle"
    common = ["--checkpoint", str(tiny_run / "checkpoint_best.pt"), "--out", str(out), "--reference-ann",
              str(scenes_dir / "test.json"), "--image-root", str(scenes_dir), "--reference-count", "2"]
    export.main(common + ["--int8"])
    printed = json.loads(capsys.readouterr().out)
    m = manifest(out)
    assert m["precisions"]["default"] == "fp32"
    assert m["precisions"]["int8"]["method"] == {key: "dynamic" for key in m["graphs"]}
    for key, graph in m["precisions"]["int8"]["graphs"].items():
        assert graph["file"] == f"{key}.int8.onnx" and graph["file"] in m["files"]
        assert printed["int8"]["bytes"][key]["int8"] == m["files"][graph["file"]]["bytes"]
    export.main(common)
    assert "precisions" not in manifest(out) and not list(out.glob("*.int8.onnx"))
    assert not [f for f in manifest(out)["files"] if "int8" in f]


@pytest.mark.parametrize("flags, message", [
    (["--blend-window", "8"], r"chose no weight for --blend-window \[8\]; it has windows \['16'\]"),
    (["--itc-weight", "-1"], r"--itc-weight \[-1.0\] must be a finite number >= 0"),
])
def test_bad_rerank_weights_are_named(tiny_run, scenes_dir, tmp_path, capsys, flags, message):
    report = tmp_path / "blend.json"
    report.write_text(json.dumps({"chosen_itc_weight": {"16": 4.0}}))
    flags = ["--blend-report", str(report)] + flags if "--blend-window" in flags else flags
    with pytest.raises(SystemExit):
        export.main(["--checkpoint", str(tiny_run / "checkpoint_best.pt"), "--out", str(tmp_path / "b"), "--reference-ann",
                     str(scenes_dir / "test.json"), "--image-root", str(scenes_dir)] + flags)
    assert re.search(message, capsys.readouterr().err)


def test_unknown_codec_lists_the_valid_ones(tiny_run, scenes_dir, tmp_path):
    with pytest.raises(ValueError, match=r"unknown codec \[bf8\]; valid codecs: \['fp32', 'fp16', 'int8'\]"):
        export.export_bundle(tiny_run / "checkpoint_best.pt", tmp_path, scenes_dir / "test.json", scenes_dir, codec="bf8")


def export_two_step_run(scenes_dir, tmp_path, flags, out):
    """Trains the tiny preset with ``flags`` for two steps and exports it to ``out``."""
    import pretrain

    run = tmp_path / f"run-{out.name}"
    pretrain.main(["--train-ann", str(scenes_dir / "train.json"), "--image-root", str(scenes_dir), "--out", str(run),
                   "--threads", "1", *settings(preset="tiny", epochs=1, max_steps=2, batch_size=8, vocab_size=200, **flags)])
    return export.export_bundle(run / "checkpoint_last.pt", out, scenes_dir / "test.json", scenes_dir, reference_count=2)


def test_fusion_image_positions_export_and_match_pytorch(scenes_dir, tmp_path):
    out = tmp_path / "bundle-fusion-image-positions"
    m = export_two_step_run(scenes_dir, tmp_path, {"fusion_image_positions": True}, out)
    assert m["model"]["config"]["fusion_image_positions"] is True
    parity = m["export_check"]["max_abs_diff_vs_pytorch"]
    assert parity["itm_logits"] <= 1e-3 and parity["image_token_features"] <= 1e-4, parity


def test_bridge_model_exports_per_layer_features(scenes_dir, tmp_path):
    """BridgeTower: the stored features carry one block per fusion layer and still match."""
    out = tmp_path / "bridge-bundle"
    m = export_two_step_run(scenes_dir, tmp_path, {"bridge": True}, out)
    assert m["model"]["bridge"] is True and m["token_features"]["feature_layers"] == m["model"]["config"]["fusion_layers"] == 2
    image_tokens = m["token_features"]["image_tokens"]
    assert read(out, "image_token_features").shape[1] == m["token_features"]["feature_layers"] * image_tokens
    parity = m["export_check"]["max_abs_diff_vs_pytorch"]
    assert parity["itm_logits"] <= 1e-3 and parity["image_token_features"] <= 1e-4, parity
    assert m["bytes_per_image"]["fp32"] == 10 + 4 * 2 * image_tokens * m["token_features"]["width"]
