"""scripts/import-model on Hugging Face ViLT retrieval checkpoints: tiny random-weight models saved
exactly as a published checkpoint is laid out, imported, then checked in ONNX Runtime against
the Hugging Face model's own forward (with its own, randomly ordered, ``visual_embed``)."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import transformers
from PIL import Image

import import_model
from bundle_io import read_reference as reference
from feature_codec import bytes_per_item
from fusion_contract import check_manifest
from import_checks import (assert_committed_fixture, assert_graphs_declared, assert_hf_provenance, assert_refused,
                           assert_tokenizer_fixture, broken, edit_json, edit_weights, grow_wordpiece_vocabulary,
                           hf_refusals, manifest)
from importers import hf_vilt
from importers.hf_checkpoint import session
from retrieval_eval import SCORE
from tools.random_vilt_checkpoint import tiny_config, write_checkpoint

COMMITTED = Path(__file__).resolve().parents[2] / "src" / "test" / "resources" / "bundles" / "vilt-tiny"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    # Seed 0, as make-vilt-tiny writes the committed Java fixture.
    return write_checkpoint(tmp_path_factory.mktemp("vilt-tiny") / "src", tiny_config(), seed=0)


@pytest.fixture(scope="module")
def bundle(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "vilt-tiny"
    hf_vilt.import_bundle(checkpoint, out, codec="fp32")
    return out


@pytest.fixture(scope="module")
def source_model(checkpoint):
    return transformers.ViltForImageAndTextRetrieval.from_pretrained(checkpoint, local_files_only=True).eval()


def pad_rows(features):
    """Candidates of different token counts in one batch, as the Java runtime pads them."""
    longest = max(f.shape[1] for f in features)
    out = np.zeros((len(features), longest, features[0].shape[2]), dtype=np.float32)
    mask = np.zeros((len(features), longest), dtype=np.int64)
    for i, f in enumerate(features):
        out[i, :f.shape[1]], mask[i, :f.shape[1]] = f[0], 1
    return out, mask


def test_graphs_match_the_source_forward_on_new_inputs(bundle, checkpoint, source_model):
    """Caption batch sizes and lengths the export never saw, images of two sizes (17 and 13 token
    rows, one never exported), padded into one fusion batch; the logits from the HF forward, both
    one image at a time and on the processor-style padded batch (pixel_mask 0 on the padding)."""
    tokenizer = transformers.BertTokenizerFast.from_pretrained(checkpoint, local_files_only=True)
    texts = ["a cat", "two small red stars riding the large green horse on the left", "naive cafe photo"]
    enc = tokenizer(texts, padding="longest", truncation=True, max_length=40, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    rng = np.random.default_rng(5)
    images = [torch.from_numpy(rng.normal(size=(1, 3, h, w)).astype(np.float32)) for h, w in ((64, 64), (32, 96))]
    (text,) = session(bundle, "text_encoder").run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    encoder = session(bundle, "image_encoder")
    feats = [encoder.run(None, {"pixels": p.numpy()})[0] for p in images]
    assert [f.shape[1] for f in feats] == [17, 13]
    padded, image_mask = pad_rows(feats)
    (logits,) = session(bundle, "fusion_itm").run(None, {
        "text_features": np.tile(text, (2, 1, 1)), "text_mask": np.tile(mask.numpy(), (2, 1)),
        "image_features": np.repeat(padded, 3, axis=0), "image_mask": np.repeat(image_mask, 3, axis=0)})
    np.testing.assert_allclose(text, hf_vilt.source_text_features(source_model, ids, mask).numpy(), atol=1e-4)
    for f, p in zip(feats, images):
        np.testing.assert_allclose(f, hf_vilt.source_image_features(source_model, p).numpy(), atol=1e-4)
    one_at_a_time = torch.stack([hf_vilt.source_logits(source_model, ids, mask, p) for p in images])
    np.testing.assert_allclose(logits[:, 1], one_at_a_time.flatten().numpy(), atol=1e-4)
    np.testing.assert_array_equal(logits[:, 0], 0)
    # The HF batch: both images zero-padded to 64 x 96 with their pixel masks, every pair at once.
    pixels = torch.zeros(2, 3, 64, 96)
    pixel_mask = torch.zeros(2, 64, 96, dtype=torch.long)
    for i, p in enumerate(images):
        pixels[i, :, :p.shape[2], :p.shape[3]], pixel_mask[i, :p.shape[2], :p.shape[3]] = p[0], 1
    with torch.no_grad():
        batch = source_model(input_ids=ids.repeat(2, 1), attention_mask=mask.repeat(2, 1),
                             pixel_values=pixels.repeat_interleave(3, 0),
                             pixel_mask=pixel_mask.repeat_interleave(3, 0)).logits[:, 0]
    np.testing.assert_allclose(logits[:, 1], batch.numpy(), atol=1e-4)
    assert np.ptp(logits[:, 1]) > 0.1  # scores differ: a ranking is tested, not ties


def test_reference_outputs_are_the_source_models(bundle, checkpoint):
    """Pixels from ViltImageProcessorPil, one image at a time at its own size, and the exported
    graphs reproduce the stored outputs of the source forward."""
    ref = json.loads((bundle / "reference" / "reference.json").read_text())
    processor = transformers.ViltImageProcessorPil.from_pretrained(checkpoint, local_files_only=True)
    sizes = reference(bundle, "image_sizes")
    assert len({tuple(s) for s in sizes}) >= 2  # at least two input sizes
    fusion, encoder = session(bundle, "fusion_itm"), session(bundle, "image_encoder")
    text = reference(bundle, "text_token_features")
    for i, path in enumerate(ref["images"]):
        out = processor(Image.open(bundle / path), return_tensors="np")
        np.testing.assert_array_equal(reference(bundle, f"pixels_{i}"), out["pixel_values"])
        assert out["pixel_mask"].all() and list(out["pixel_values"].shape[2:]) == list(sizes[i])
        (feats,) = encoder.run(None, {"pixels": reference(bundle, f"pixels_{i}")})
        np.testing.assert_allclose(feats, reference(bundle, f"image_token_features_{i}"), atol=1e-4)
        (logits,) = fusion.run(None, {"text_features": text, "text_mask": reference(bundle, "attention_mask"),
                                      "image_features": np.repeat(feats, 4, axis=0),
                                      "image_mask": np.ones((4, feats.shape[1]), dtype=np.int64)})
        np.testing.assert_allclose(logits, reference(bundle, "itm_logits")[i], atol=1e-4)
    assert {p.rsplit(".", 1)[1] for p in ref["images"]} == {"png", "jpg"}
    parity = manifest(bundle)["export_check"]["max_abs_diff_vs_source"]
    assert set(parity) == {"image_token_features", "text_token_features", "itm_logits"}
    assert max(parity.values()) <= 1e-4, parity


def manifest_size(image, height, width):
    """The output size from the manifest's fields alone, as the Java side computes it."""
    short, long = (height, width) if height < width else (width, height)
    scale = image["shortest_edge"] / short
    new_short, new_long = image["shortest_edge"], scale * long
    if new_long > image["longest_edge"]:
        scale = image["longest_edge"] / new_long
        new_short, new_long = scale * new_short, scale * new_long
    d = image["size_divisor"]
    new_short, new_long = int(new_short + 0.5) // d * d, int(new_long + 0.5) // d * d
    return (new_short, new_long) if height < width else (new_long, new_short)


@pytest.mark.parametrize("height, width", [(24, 40), (61, 47), (64, 64), (100, 75), (75, 100), (40, 120), (150, 50),
                                           (480, 640), (33, 17)])
def test_pixels_follow_the_manifests_image_rule(bundle, checkpoint, height, width):
    """The manifest's fields (shortest_edge, longest_edge, size_divisor, PIL bicubic, rescale,
    mean, std) give ViltImageProcessorPil's pixels exactly, for several aspect ratios."""
    image = manifest(bundle)["image"]
    rng = np.random.default_rng(height * 1000 + width)
    picture = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
    processor = transformers.ViltImageProcessorPil.from_pretrained(checkpoint, local_files_only=True)
    expected = processor(picture, return_tensors="np")["pixel_values"][0]
    h, w = manifest_size(image, height, width)
    resized = np.asarray(picture.resize((w, h), Image.Resampling.BICUBIC)).transpose(2, 0, 1)
    rescaled = (resized.astype(np.float64) * image["rescale"]).astype(np.float32)
    pixels = (rescaled - np.array(image["mean"], np.float32)[:, None, None]) / np.array(image["std"], np.float32)[:, None, None]
    np.testing.assert_array_equal(pixels, expected)
    tokens = 1 + (h // image["patch_size"]) * (w // image["patch_size"])
    assert manifest(bundle)["token_features"]["image_tokens_min"] <= tokens <= manifest(bundle)["token_features"]["image_tokens"]


def test_an_image_too_elongated_for_the_processor(bundle, checkpoint):
    """An aspect ratio beyond longest_edge / size_divisor floors the short side to 0 px: the
    processor raises, and the manifest's rule gives that 0 (the runtime must refuse the image)."""
    processor = transformers.ViltImageProcessorPil.from_pretrained(checkpoint, local_files_only=True)
    with pytest.raises(ValueError):
        processor(Image.new("RGB", (200, 40)), return_tensors="np")
    assert manifest_size(manifest(bundle)["image"], 40, 200) == (0, 96)


def test_image_token_range_is_the_resizes(bundle, checkpoint):
    """image_tokens and image_tokens_min: the extremes over inputs of every aspect ratio, as the
    processor's own size rule gives them (sides floored to 0 are images it cannot make)."""
    ckpt = hf_vilt.read_checkpoint(checkpoint)
    counts = set()
    for h in range(1, 400, 3):
        for w in (1, 2, 5, 13, 40, 64, 97, 106, 107, 128, 200, 400, 1000):
            for hh, ww in ((h, w), (w, h)):
                oh, ow = hf_vilt.output_size(ckpt, hh, ww)
                if oh and ow:
                    counts.add(1 + (oh // 16) * (ow // 16))
    tf = manifest(bundle)["token_features"]
    assert (tf["image_tokens_min"], tf["image_tokens"]) == (min(counts), max(counts)) == (13, 25)


def test_manifest_declares_the_graphs_inputs(bundle):
    m = manifest(bundle)
    check_manifest(m)
    assert "embedding" not in m
    assert_graphs_declared(bundle, m)
    for spec in m["graphs"].values():
        ops = {n.op_type for n in onnx.load(str(bundle / spec["file"])).graph.node}
        assert not ops & {"Multinomial", "RandomUniform", "RandomNormal", "RandomUniformLike", "RandomNormalLike"}
    assert m["graphs"]["image_encoder"]["inputs"][0]["shape"] == ["batch", 3, "height", "width"]
    assert [o["name"] for o in m["graphs"]["text_encoder"]["outputs"]] == ["token_features"]
    assert [o["name"] for o in m["graphs"]["image_encoder"]["outputs"]] == ["token_features"]
    fusion = m["fusion"]
    assert fusion["directions"]["text_to_image"]["inputs"] == [
        {"name": "text_features", "source": "query.token_features"}, {"name": "text_mask", "source": "query.attention_mask"},
        {"name": "image_features", "source": "candidate.token_features"},
        {"name": "image_mask", "source": "candidate.token_mask"}]
    assert fusion["documents"] == {"image": {"stores": ["token_features"]}, "caption": {"stores": ["token_features"]}}


def test_provenance_score_and_costs(bundle, checkpoint):
    m = assert_hf_provenance(bundle, checkpoint)
    assert m["model"]["family"] == "vilt"
    assert m["score"] == SCORE and m["rerank"]["score_mode"] == "itm" and "itc_weight" not in m["rerank"]
    assert m["text"]["max_tokens"] == 40 and m["text"]["vocab_size"] == 86
    assert (m["text"]["pad_id"], m["text"]["cls_id"], m["text"]["sep_id"]) == (0, 2, 3)
    image = m["image"]
    assert (image["shortest_edge"], image["longest_edge"], image["size_divisor"], image["patch_size"]) == (64, 106, 32, 16)
    assert image["resize"] == "pil_bicubic" and image["mean"] == [0.5] * 3 and image["std"] == [0.5] * 3
    assert image["center_crop"] is False and "size" not in image and image["alpha"] == "pil_convert_rgb"
    assert (m["token_features"]["image_tokens"], m["token_features"]["image_tokens_min"]) == (25, 13)
    assert m["bytes_per_image"] == bytes_per_item(1, 25, 32)
    # By hand, 40 text + 25 image tokens (a 384 x 640 input becomes 64 x 96 here), width 32, FFN 64:
    # per layer 4·65·32² + 2·65²·32 + 2·65·32·64 = 802,880; pooler 32², head 32.
    assert m["fusion_flops_basis"]["image_tokens"] == 25
    assert m["fusion_flops_per_pair"] == 2 * (2 * 802_880 + 32 * 32 + 32)


def test_bundle_tokenizer_gives_the_checkpoints_ids(bundle):
    assert json.loads((bundle / "reference" / "tokenizer_fixture.json").read_text())["max_tokens"] == 40
    tokenizer = assert_tokenizer_fixture(bundle)
    ids = tokenizer.encode("A red circle, left of the small dogs").ids
    assert tokenizer.token_to_id("[UNK]") not in ids and tokenizer.decode(ids) == "a red circle, left of the small dogs"


def test_published_processor_config_forms_read_alike(checkpoint, tmp_path):
    """The published checkpoints' preprocessor_config.json (a ViltFeatureExtractor with ``size``
    an integer) reads as the saved ViltImageProcessor does, and a max_image_length covering the
    largest image is accepted (it keeps every patch)."""
    source = broken(checkpoint, tmp_path)
    (source / "preprocessor_config.json").write_text(json.dumps({
        "do_normalize": True, "do_resize": True, "feature_extractor_type": "ViltFeatureExtractor",
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 3, "size": 64, "size_divisor": 32}))
    edit_json(source / "config.json", max_image_length=24)
    ours, theirs = hf_vilt.read_checkpoint(source), hf_vilt.read_checkpoint(checkpoint)
    assert hf_vilt.image_section(ours) == hf_vilt.image_section(theirs)
    assert hf_vilt.image_token_range(ours) == (13, 25)


@pytest.mark.parametrize("breakage, message", hf_refusals(
    hf_vilt.ARCHITECTURE, "ViltForQuestionAnswering", "blip", missing_key="rank_output.weight",
    mismatched=("vilt.embeddings.position_embeddings", (1, 37, 32), (1, 17, 32))) + [
    (lambda d: edit_json(d / "config.json", max_image_length=20),
     r"config.json\] max_image_length \[20\] is below the \[24\] patches of the largest image .*64 x 96"),
    (lambda d: edit_json(d / "config.json", image_size=[64, 48]), r"config.json\] image_size \[\[64, 48\]\]"),
    (lambda d: grow_wordpiece_vocabulary(d, ["zebra", "yak", "xylophone"]),
     r"tokenizer \[.*vocab.txt\] gives token \[.+\] the id \[\d+\], outside .*vocab_size \[86\]"),
    (lambda d: edit_json(d / "preprocessor_config.json", size_divisor=24),
     r"preprocessor_config.json\] size_divisor \[24\] is not a positive multiple of .*patch_size \[16\]"),
    (lambda d: edit_json(d / "preprocessor_config.json", size={"height": 64, "width": 64}),
     r"preprocessor_config.json\] size .* has no positive shortest_edge"),
])
def test_malformed_checkpoints_are_refused(checkpoint, tmp_path, breakage, message):
    assert_refused(hf_vilt, checkpoint, tmp_path, breakage, message)


def test_cli_dispatches_on_model_type(checkpoint, tmp_path, capsys):
    """import_model.main: 0 and a ViLT bundle for a good checkpoint (the pickled-weights layout),
    2 with the message for a bad one or a model_type no importer reads."""
    source = write_checkpoint(tmp_path / "bin", tiny_config(), seed=3, safetensors=False)
    assert (source / "pytorch_model.bin").is_file() and not (source / "model.safetensors").exists()
    assert import_model.main([str(source), "--out", str(tmp_path / "out"), "--threads", "1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["family"] == "vilt" and max(printed["parity"].values()) <= 1e-4
    assert "pytorch_model.bin" in manifest(tmp_path / "out")["model"]["source"]["files"]
    bad = broken(checkpoint, tmp_path)
    edit_weights(bad / "model.safetensors", lambda w: w.pop("rank_output.bias"))
    assert import_model.main([str(bad), "--out", str(tmp_path / "bad-out")]) == 2
    assert "has missing keys ['rank_output.bias']" in capsys.readouterr().err
    edit_json(bad / "config.json", model_type="clip")
    assert import_model.main([str(bad), "--out", str(tmp_path / "bad-out")]) == 2
    assert "has model_type [clip]; supported model types: ['blip', 'bridgetower', 'vilt']" in capsys.readouterr().err


@pytest.mark.skipif(not COMMITTED.is_dir(), reason="the Java fixture is made by make-vilt-tiny")
def test_the_committed_java_fixture_is_this_importers_output(bundle):
    """``encoder/src/test/resources/bundles/vilt-tiny`` (what the Java tests load) is what the
    importer writes today from the same seed: the contract sections and the reference outputs."""
    assert_committed_fixture(bundle, COMMITTED)
