"""scripts/import-model on Hugging Face BLIP retrieval checkpoints: tiny random-weight models saved
exactly as a published checkpoint is laid out, imported, then checked in ONNX Runtime against
the Hugging Face model's own forward."""

import json

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

import import_model
from bundle_io import read_reference as reference
from feature_codec import bytes_per_item
from fusion_contract import check_manifest
from import_checks import (assert_graphs_declared, assert_hf_provenance, assert_refused, assert_tokenizer_fixture,
                           edit_json, grow_wordpiece_vocabulary, hf_refusals, manifest)
from importers import hf_blip
from importers.hf_checkpoint import session
from retrieval_eval import SCORE
from tools.random_blip_checkpoint import tiny_config, write_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("blip-tiny"), tiny_config(), seed=1)


@pytest.fixture(scope="module")
def bundle(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "blip-tiny"
    hf_blip.import_bundle(checkpoint, out)
    return out


@pytest.fixture(scope="module")
def source_model(checkpoint):
    return transformers.BlipForImageTextRetrieval.from_pretrained(checkpoint, local_files_only=True).eval()


def test_graphs_match_the_source_forward_on_new_inputs(bundle, checkpoint, source_model):
    """Batch sizes and caption lengths the export never saw; ITC and ITM from the HF forward."""
    tokenizer = transformers.BertTokenizerFast.from_pretrained(checkpoint, local_files_only=True)
    texts = ["a cat", "two small red stars riding the large green horse on the left", "naive cafe photo"]
    enc = tokenizer(texts, padding="longest", truncation=True, max_length=35, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    pixels = torch.from_numpy(np.random.default_rng(5).normal(size=(2, 3, 32, 32)).astype(np.float32))
    img_emb, img_feat = session(bundle, "image_encoder").run(None, {"pixels": pixels.numpy()})
    (txt_emb,) = session(bundle, "text_encoder").run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    (logits,) = session(bundle, "fusion_itm").run(None, {
        "input_ids": np.tile(ids.numpy(), (2, 1)), "attention_mask": np.tile(mask.numpy(), (2, 1)),
        "image_features": np.repeat(img_feat, 3, axis=0)})
    with torch.no_grad():
        itc = source_model(input_ids=ids, pixel_values=pixels, attention_mask=mask, use_itm_head=False).itm_score
        itm = source_model(input_ids=ids.repeat(2, 1), pixel_values=pixels.repeat_interleave(3, 0),
                           attention_mask=mask.repeat(2, 1), use_itm_head=True).itm_score
        hidden = source_model.vision_model(pixel_values=pixels).last_hidden_state
    np.testing.assert_allclose(img_emb @ txt_emb.T, itc.numpy(), atol=1e-4)
    np.testing.assert_allclose(logits, itm.numpy(), atol=1e-4)
    np.testing.assert_allclose(img_feat, hidden.numpy(), atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(img_emb, axis=1), 1, atol=1e-5)
    assert np.abs(logits).max() > 1e-3  # the comparison is of real numbers, not zeros


def test_reference_outputs_are_the_source_models(bundle, checkpoint):
    """Pixels from BlipImageProcessorPil, and the exported graphs reproduce the stored outputs."""
    ref = json.loads((bundle / "reference" / "reference.json").read_text())
    processor = transformers.BlipImageProcessorPil.from_pretrained(checkpoint, local_files_only=True)
    pixels = processor([Image.open(bundle / p) for p in ref["images"]], return_tensors="np")["pixel_values"]
    np.testing.assert_array_equal(reference(bundle, "pixels"), pixels)
    assert {p.rsplit(".", 1)[1] for p in ref["images"]} == {"png", "jpg"}
    parity = manifest(bundle)["export_check"]["max_abs_diff_vs_source"]
    assert set(parity) == {"image_embedding", "image_token_features", "text_embedding", "itc_similarity", "itm_logits"}
    assert max(parity.values()) <= 1e-4, parity
    (logits,) = session(bundle, "fusion_itm").run(None, {
        "input_ids": np.tile(reference(bundle, "input_ids"), (4, 1)),
        "attention_mask": np.tile(reference(bundle, "attention_mask"), (4, 1)),
        "image_features": np.repeat(reference(bundle, "image_token_features"), 4, axis=0)})
    np.testing.assert_allclose(logits.reshape(4, 4, 2), reference(bundle, "itm_logits"), atol=1e-4)


def test_manifest_declares_the_graphs_inputs(bundle):
    m = manifest(bundle)
    check_manifest(m)
    assert_graphs_declared(bundle, m)
    fusion = m["fusion"]
    assert fusion["directions"]["text_to_image"]["inputs"] == [
        {"name": "input_ids", "source": "query.token_ids"}, {"name": "attention_mask", "source": "query.attention_mask"},
        {"name": "image_features", "source": "candidate.token_features"}]
    assert [i["source"] for i in fusion["directions"]["image_to_text"]["inputs"]] == [
        "candidate.token_ids", "candidate.attention_mask", "query.token_features"]
    assert fusion["documents"] == {"image": {"stores": ["embedding", "token_features"]},
                                   "caption": {"stores": ["embedding", "token_ids"]}}
    assert [o["name"] for o in m["graphs"]["text_encoder"]["outputs"]] == ["embedding"]
    assert m["token_features"]["image_tokens"] == 1 + (32 // 8) ** 2


def test_provenance_score_and_costs(bundle, checkpoint):
    m = assert_hf_provenance(bundle, checkpoint)
    assert m["model"]["family"] == "blip"
    assert m["score"] == SCORE and m["rerank"]["itc_weight"] == 1.0 and m["rerank"]["score_mode"] in SCORE["modes"]
    assert m["text"]["max_tokens"] == 35 and m["image"]["resize"] == "pil_bicubic"
    assert m["image"]["mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    assert m["bytes_per_image"] == bytes_per_item(1, 17, 32)
    # By hand: per text layer 4·35·32² + 2·35²·32 + 2·35·32² + 2·17·32·32 + 2·35·17·32 + 2·35·32·64 = 509,696.
    assert m["fusion_flops_per_pair"] == 2 * (2 * 509_696 + 2 * 32)


def test_bundle_tokenizer_gives_the_checkpoints_ids(bundle):
    tokenizer = assert_tokenizer_fixture(bundle)
    ids = tokenizer.encode("A red circle, left of the small dogs").ids
    assert tokenizer.token_to_id("[UNK]") not in ids and tokenizer.decode(ids) == "a red circle, left of the small dogs"


def test_pytorch_model_bin_checkpoint(tmp_path):
    source = write_checkpoint(tmp_path / "src", tiny_config(image_size=16, patch_size=4), seed=2, safetensors=False)
    assert (source / "pytorch_model.bin").is_file() and not (source / "model.safetensors").exists()
    m = hf_blip.import_bundle(source, tmp_path / "out")
    assert "pytorch_model.bin" in m["model"]["source"]["files"]
    assert max(m["export_check"]["max_abs_diff_vs_source"].values()) <= 1e-4
    assert m["token_features"]["image_tokens"] == 17


@pytest.mark.parametrize("breakage, message", hf_refusals(
    hf_blip.ARCHITECTURE, "BlipForConditionalGeneration", "clip", missing_key="itm_head.weight",
    mismatched=("itm_head.weight", (2, 48), (2, 32))) + [
    (lambda d: grow_wordpiece_vocabulary(d, ["zebra", "yak", "xylophone"]),
     r"tokenizer \[.*vocab.txt\] gives token \[.+\] the id \[\d+\], outside .*vocab_size \[84\]"),
    (lambda d: edit_json(d / "preprocessor_config.json", size={"height": 64, "width": 64}),
     r"preprocessor_config.json\] size .* image_size \[32\]"),
    (lambda d: edit_json(d / "preprocessor_config.json", do_convert_rgb=False),
     r"preprocessor_config.json\] do_convert_rgb \[False\]"),
])
def test_malformed_checkpoints_are_refused(checkpoint, tmp_path, breakage, message):
    assert_refused(hf_blip, checkpoint, tmp_path, breakage, message)


def test_cli_exits_2_with_the_message(tmp_path, capsys):
    assert import_model.main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert f"[{tmp_path}] has no [config.json]" in capsys.readouterr().err
