"""The committed default bundle (models/fuserank-small) is intact and its graphs still reproduce
the PyTorch reference outputs stored with it."""

import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import data
from model import ModelConfig
from retrieval_eval import SCORE

BUNDLE = Path(__file__).resolve().parents[3] / "models" / "fuserank-small"


@pytest.fixture(scope="module")
def manifest():
    return json.loads((BUNDLE / "manifest.json").read_text())


def array(name):
    ref = json.loads((BUNDLE / "reference" / "reference.json").read_text())
    entry = ref["arrays"][name]
    dtype = {"float32": "<f4", "int64": "<i8"}[entry["dtype"]]
    return np.fromfile(BUNDLE / "reference" / entry["file"], dtype=dtype).reshape(entry["shape"])


def test_checksums(manifest):
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((BUNDLE / name).read_bytes()).hexdigest() == entry["sha256"], name
    # 16.3 MB of fp32 graphs, 4.7 MB of int8 graphs beside them, 0.5 MB of the rest.
    assert sum(e["bytes"] for e in manifest["files"].values()) <= 24 * 1024 * 1024


def test_preprocessing_reproduces_the_reference_pixels(manifest):
    ref = json.loads((BUNDLE / "reference" / "reference.json").read_text())
    transform = data.ImageTransform(manifest["image"]["size"], manifest["image"]["mean"], manifest["image"]["std"])
    pixels = array("pixels")
    for i, image in enumerate(ref["images"]):
        np.testing.assert_array_equal(transform(BUNDLE / image).numpy(), pixels[i])


def test_graphs_reproduce_the_reference_outputs(manifest):
    image = ort.InferenceSession(str(BUNDLE / "image_encoder.onnx"))
    text = ort.InferenceSession(str(BUNDLE / "text_encoder.onnx"))
    fusion = ort.InferenceSession(str(BUNDLE / "fusion_itm.onnx"))
    img_emb, img_feat = image.run(None, {"pixels": array("pixels")})
    ids, mask = array("input_ids"), array("attention_mask")
    txt_emb, txt_feat = text.run(None, {"input_ids": ids, "attention_mask": mask})
    np.testing.assert_allclose(img_emb, array("image_embedding"), atol=1e-4)
    np.testing.assert_allclose(txt_emb, array("text_embedding"), atol=1e-4)
    np.testing.assert_allclose(img_feat, array("image_token_features"), atol=1e-4)
    n_img, n_txt = img_feat.shape[0], txt_feat.shape[0]
    (logits,) = fusion.run(None, {
        "text_features": np.tile(txt_feat, (n_img, 1, 1)), "text_mask": np.tile(mask, (n_img, 1)),
        "image_features": np.repeat(img_feat, n_txt, axis=0),
        "image_mask": np.ones((n_img * n_txt, manifest["token_features"]["image_tokens"]), dtype=np.int64)})
    np.testing.assert_allclose(logits.reshape(n_img, n_txt, 2), array("itm_logits"), atol=1e-3)
    # The trained model ranks each reference image's own caption first by ITM.
    assert (array("itm_logits")[..., 1].argmax(axis=1) == np.arange(n_img)).mean() >= 0.75


def test_int8_graphs_rank_the_reference_as_the_fp32_ones(manifest):
    """The int8 graphs beside the fp32 ones (quantize.py; fp32 stays the default) keep every
    reference image's best caption and every caption's best image of the PyTorch reference."""
    precisions = manifest["precisions"]
    assert precisions["default"] == "fp32"
    graphs = precisions["int8"]["graphs"]
    for key, graph in graphs.items():
        assert graph["file"] == f"{key}.int8.onnx" and graph["file"] in manifest["files"], key

    def session(key):
        return ort.InferenceSession(str(BUNDLE / graphs[key]["file"]))

    img_emb, img_feat = session("image_encoder").run(None, {"pixels": array("pixels")})
    ids, mask = array("input_ids"), array("attention_mask")
    txt_emb, txt_feat = session("text_encoder").run(None, {"input_ids": ids, "attention_mask": mask})
    n_img, n_txt = img_feat.shape[0], txt_feat.shape[0]
    (logits,) = session("fusion_itm").run(None, {
        "text_features": np.tile(txt_feat, (n_img, 1, 1)), "text_mask": np.tile(mask, (n_img, 1)),
        "image_features": np.repeat(img_feat, n_txt, axis=0),
        "image_mask": np.ones((n_img * n_txt, manifest["token_features"]["image_tokens"]), dtype=np.int64)})
    match, reference = logits.reshape(n_img, n_txt, 2)[..., 1], array("itm_logits")[..., 1]
    np.testing.assert_allclose(match, reference, atol=0.1)
    for axis in (0, 1):
        np.testing.assert_array_equal(match.argmax(axis=axis), reference.argmax(axis=axis))
    np.testing.assert_allclose(img_emb, array("image_embedding"), atol=0.01)
    np.testing.assert_allclose(txt_emb, array("text_embedding"), atol=0.01)


def test_the_rerank_weight_was_chosen_on_validation(manifest):
    """The shipped itc_weight is the one blend_weight.py chose on the val split, and on the test
    split that weighting lifts IR R@1 over ITC alone (the ITM stage's reason to exist)."""
    rerank = manifest["rerank"]
    assert rerank["chosen_by"].startswith("blend_weight.py"), rerank["chosen_by"]
    weight = rerank["itc_weight"]
    assert weight >= 0
    test = rerank["test"]
    chosen = next(row for name, row in test.items() if name.endswith(f"+{weight:g}·ITC"))
    assert chosen["img_r1"] >= test["ITC"]["img_r1"] + 5, (chosen["img_r1"], test["ITC"]["img_r1"])


def test_the_score_section_is_the_one_export_writes(manifest):
    """export.py writes retrieval_eval.SCORE; the Java side checks the same text against its code."""
    assert manifest["score"] == SCORE


def test_the_manifest_config_builds_the_shipped_model(manifest):
    """The shipped manifest names removed switches at the values the code now always builds."""
    cfg = ModelConfig.from_dict(manifest["model"]["config"])
    assert cfg.fusion_image_positions and not cfg.bridge
