"""scripts/import-model on Hugging Face BridgeTower retrieval checkpoints: tiny random-weight models
saved exactly as a published checkpoint is laid out, imported, then checked in ONNX Runtime
against the Hugging Face model's own forward."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from PIL import Image
from safetensors.torch import load_file
from transformers.masking_utils import create_bidirectional_mask

import import_model
from bundle_io import read_reference as reference
from feature_codec import bytes_per_item
from fusion_contract import check_manifest
from import_checks import (assert_graphs_declared, assert_hf_provenance, assert_refused, assert_tokenizer_fixture,
                           broken, edit_json, edit_weights, hf_refusals, manifest)
from importers import CheckpointError, hf_bridgetower
from importers.hf_checkpoint import session
from retrieval_eval import SCORE
from tools.random_bridgetower_checkpoint import (TINY_CONTRASTIVE_SIZE, TINY_ITC_WIDTH, TINY_SIZE_DIVISOR, itc_config,
                                                 tiny_config, tiny_itc_config, write_checkpoint)

BUNDLES = Path(__file__).resolve().parents[2] / "src" / "test" / "resources" / "bundles"
FIXTURE = BUNDLES / "bridgetower-tiny"
ITC_FIXTURE = BUNDLES / "bridgetower-itc-tiny"
LAYERS, WIDTH, IMAGE_TOKENS = 2, 16, 1 + (32 // 8) ** 2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Three uni-modal layers a side, the top two linked (the fixture links both of its two)."""
    return write_checkpoint(tmp_path_factory.mktemp("bridgetower-tiny"), tiny_config(layers=3, cross_layers=2),
                            seed=1, size_divisor=TINY_SIZE_DIVISOR)


@pytest.fixture(scope="module")
def bundle(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "bridgetower-tiny"
    hf_bridgetower.import_bundle(checkpoint, out)
    return out


@pytest.fixture(scope="module")
def source_model(checkpoint):
    return transformers.BridgeTowerForImageAndTextRetrieval.from_pretrained(
        checkpoint, local_files_only=True, attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def tokenizer(checkpoint):
    return transformers.RobertaTokenizerFast.from_pretrained(checkpoint, local_files_only=True)


def run_fusion(bundle, text_features, text_mask, image_features, image_mask=None):
    if image_mask is None:
        image_mask = np.ones((image_features.shape[0], image_features.shape[1] // LAYERS), dtype=np.int64)
    return session(bundle, "fusion_itm").run(None, {"text_features": text_features, "text_mask": text_mask,
                                                    "image_features": image_features, "image_mask": image_mask})[0]


def features_from_the_forward(model, hidden_states, split):
    """The token features, derived from the uni-modal states ``BridgeTowerModel.forward`` records
    (``hidden_states[0]``: text after k layers at index k; ``[1]``: the ViT's, sequence first) with
    the model's own modules, as the forward hands them to each cross-modal layer."""
    bt = model.bridgetower
    text_type = bt.token_type_embeddings(torch.tensor([0]))
    image_type = bt.token_type_embeddings(torch.tensor([1]))
    text, image = hidden_states[0][split:], [bt.vision_model.visual.forward_post(h) for h in hidden_states[1][split:]]
    text_rows = [bt.cross_modal_text_layernorm(bt.cross_modal_text_transform(text[0]) + text_type)]
    text_rows += [bt.cross_modal_text_transform(t) + text_type for t in text[1:]]
    image_rows = [bt.cross_modal_image_layernorm(bt.cross_modal_image_transform(image[0]) + image_type)]
    image_rows += [bt.cross_modal_image_transform(i) + image_type for i in image[1:]]
    return torch.cat(text_rows, dim=1), torch.cat(image_rows, dim=1)


def test_graphs_match_the_source_forward_on_new_inputs(bundle, source_model, tokenizer):
    """Batch sizes and caption lengths the export never saw, a padded text batch; ITM logits of
    every pair from the HF forward, token features from the states it records."""
    texts = ["a cat", "two small red stars riding the large green horse on the left", "the photo of a dog"]
    enc = tokenizer(texts, padding="longest", truncation=True, max_length=40, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert mask.min() == 0  # padded
    pixels = torch.from_numpy(np.random.default_rng(5).normal(size=(2, 3, 32, 32)).astype(np.float32))
    (img_feat,) = session(bundle, "image_encoder").run(None, {"pixels": pixels.numpy()})
    (txt_feat,) = session(bundle, "text_encoder").run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    logits = run_fusion(bundle, np.tile(txt_feat, (2, 1, 1)), np.tile(mask.numpy(), (2, 1)),
                        np.repeat(img_feat, 3, axis=0))
    with torch.no_grad():
        out = source_model(input_ids=ids.repeat(2, 1), attention_mask=mask.repeat(2, 1),
                           pixel_values=pixels.repeat_interleave(3, 0))
        split = hf_bridgetower.split_index(source_model.bridgetower)
        text_expected, image_expected = features_from_the_forward(source_model, out.hidden_states, split)
    assert split == 2 and len(out.hidden_states[0]) == 4  # embeddings + 3 layers: the top 2 linked
    np.testing.assert_allclose(logits, out.logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(txt_feat, text_expected[:3].numpy(), atol=1e-4)
    np.testing.assert_allclose(img_feat, image_expected[::3].numpy(), atol=1e-4)
    assert txt_feat.shape == (3, LAYERS * ids.shape[1], WIDTH) and img_feat.shape == (2, LAYERS * IMAGE_TOKENS, WIDTH)
    assert np.ptp(logits[:, 1]) > 0.1  # the comparison is of real, distinct numbers

    # A caption alone, unpadded (a query), scores as it does in the padded batch (a candidate).
    alone = tokenizer(texts[:1], return_tensors="np")
    (feat,) = session(bundle, "text_encoder").run(None, {"input_ids": alone["input_ids"],
                                                         "attention_mask": alone["attention_mask"]})
    np.testing.assert_allclose(run_fusion(bundle, feat, alone["attention_mask"], img_feat[:1]), logits[:1], atol=1e-4)
    # An all-zero image mask row (batch padding) gives finite logits and leaves the real rows alone.
    image_mask = np.ones((2, IMAGE_TOKENS), dtype=np.int64)
    image_mask[1] = 0
    padded = run_fusion(bundle, np.tile(feat, (2, 1, 1)), np.tile(alone["attention_mask"], (2, 1)), img_feat, image_mask)
    assert np.isfinite(padded).all()
    np.testing.assert_allclose(padded[0], logits[0], atol=1e-4)


def test_masks_are_the_forwards(source_model):
    """``additive_mask`` is what ``create_bidirectional_mask`` builds for eager attention; for the
    all-ones image mask the forward builds none, which adds the same zeros."""
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    embeds = torch.zeros(2, 1, WIDTH)
    expected = create_bidirectional_mask(config=source_model.config, inputs_embeds=embeds, attention_mask=mask,
                                         allow_is_bidirectional_skip=False)
    assert torch.equal(hf_bridgetower.additive_mask(mask), expected)
    ones = torch.ones(2, 4, dtype=torch.long)
    assert create_bidirectional_mask(config=source_model.config, inputs_embeds=torch.zeros(2, 4, WIDTH),
                                     attention_mask=ones) is None
    assert not hf_bridgetower.additive_mask(ones).any()


def test_reference_outputs_are_the_source_models(bundle, checkpoint, tokenizer):
    """Pixels from BridgeTowerImageProcessorPil, ids from the tokenizer, and the exported graphs
    reproduce the stored features and logits."""
    ref = json.loads((bundle / "reference" / "reference.json").read_text())
    processor = transformers.BridgeTowerImageProcessorPil.from_pretrained(checkpoint, local_files_only=True)
    pixels = processor([Image.open(bundle / p) for p in ref["images"]], return_tensors="np")["pixel_values"]
    np.testing.assert_array_equal(reference(bundle, "pixels"), pixels)
    assert len(ref["images"]) == 5 and {p.rsplit(".", 1)[1] for p in ref["images"]} == {"png", "jpg"}
    enc = tokenizer(ref["captions"], padding="longest", truncation=True, max_length=40, return_tensors="np")
    np.testing.assert_array_equal(reference(bundle, "input_ids"), enc["input_ids"])
    np.testing.assert_array_equal(reference(bundle, "attention_mask"), enc["attention_mask"])
    parity = manifest(bundle)["export_check"]["max_abs_diff_vs_source"]
    assert set(parity) == {"image_token_features", "text_token_features", "itm_logits"}
    assert max(parity.values()) <= 1e-4, parity
    text, mask = reference(bundle, "text_token_features"), reference(bundle, "attention_mask")
    logits = run_fusion(bundle, np.tile(text, (5, 1, 1)), np.tile(mask, (5, 1)),
                        np.repeat(reference(bundle, "image_token_features"), 4, axis=0))
    np.testing.assert_allclose(logits.reshape(5, 4, 2), reference(bundle, "itm_logits"), atol=1e-4)
    (img_feat,) = session(bundle, "image_encoder").run(None, {"pixels": reference(bundle, "pixels")})
    np.testing.assert_allclose(img_feat, reference(bundle, "image_token_features"), atol=1e-4)
    # The fifth image is zero-padded by the crop: its top and bottom rows are normalised zeros.
    zero = -np.array(processor.image_mean, np.float32) / np.array(processor.image_std, np.float32)
    np.testing.assert_allclose(reference(bundle, "pixels")[4, :, 0, :], np.repeat(zero[:, None], 32, 1), atol=1e-6)


def bundle_image_rule(image: Image.Image, rule: dict) -> np.ndarray:
    """The manifest's image rule, from its fields alone (what the Java runtime implements)."""
    image = image.convert("RGB")
    w, h = image.size
    shortest, longest, divisor, size = rule["shortest_edge"], rule["longest_edge"], rule["size_divisor"], rule["size"]
    scale = shortest / min(h, w)
    new_h, new_w = (shortest, scale * w) if h < w else (scale * h, shortest)
    if max(new_h, new_w) > longest:
        bound = longest / max(new_h, new_w)
        new_h, new_w = bound * new_h, bound * new_w
    new_h, new_w = int(new_h + 0.5) // divisor * divisor, int(new_w + 0.5) // divisor * divisor
    resized = np.asarray(image.resize((new_w, new_h), Image.Resampling.BICUBIC))

    def centre(n):  # (first source row, first target row, rows)
        return ((n - size) // 2, 0, size) if n >= size else (0, math.ceil((size - n) / 2), n)

    (sy, ty, ny), (sx, tx, nx) = centre(new_h), centre(new_w)
    crop = np.zeros((size, size, 3), np.uint8)
    crop[ty:ty + ny, tx:tx + nx] = resized[sy:sy + ny, sx:sx + nx]
    x = (crop.astype(np.float64) * rule["rescale"]).astype(np.float32)
    x = (x - np.array(rule["mean"], np.float32)) / np.array(rule["std"], np.float32)
    return x.transpose(2, 0, 1)


@pytest.mark.parametrize("divisor", [TINY_SIZE_DIVISOR, 32, 5, 1])
def test_the_manifest_image_rule_gives_the_processors_pixels(divisor):
    """Python-side: the rule written from the manifest's fields equals BridgeTowerImageProcessorPil
    bit for bit on images of several aspect ratios, among them ones wider and taller than
    1333:800 (the crop zero-pads them) and odd differences (where the extra padding row goes)."""
    processor = transformers.BridgeTowerImageProcessorPil(size={"shortest_edge": 32}, crop_size={"shortest_edge": 32},
                                                          size_divisor=divisor)
    rule = hf_bridgetower.image_section(processor, 32)
    zero = (-np.array(rule["mean"], np.float32) / np.array(rule["std"], np.float32))[:, None]
    rng = np.random.default_rng(divisor)
    padded = 0
    for h, w in [(24, 40), (61, 47), (96, 160), (400, 300), (40, 80), (80, 40), (32, 32), (7, 9), (50, 83), (35, 36),
                 (52, 100)]:
        image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        try:
            expected = processor(image, return_tensors="np")["pixel_values"][0]
        except ValueError:  # a side floored to 0 (wider than 1333:800 at divisor 32): the processor cannot either
            assert divisor == 32 and max(h, w) / min(h, w) > 1333 / 800
            continue
        np.testing.assert_array_equal(bundle_image_rule(image, rule), expected, err_msg=f"{h}x{w}")
        padded += bool(np.all(expected[:, 0, :] == zero) or np.all(expected[:, :, 0] == zero))
    assert padded >= (0 if divisor == 32 else 2)


def test_images_the_processor_refuses_are_converted_as_bridgetower_does():
    """BridgeTower's processor (do_convert_rgb unset, as published) refuses RGBA, grey and palette
    images; with do_convert_rgb it applies PIL's convert("RGB"), as BridgeTower's own transforms
    do, and that is the bundle's ``alpha: pil_convert_rgb``."""
    kwargs = {"size": {"shortest_edge": 32}, "crop_size": {"shortest_edge": 32}, "size_divisor": 16}
    default = transformers.BridgeTowerImageProcessorPil(**kwargs)
    converting = transformers.BridgeTowerImageProcessorPil(do_convert_rgb=True, **kwargs)
    rule = hf_bridgetower.image_section(default, 32)
    rgba = np.random.default_rng(4).integers(0, 256, (30, 50, 4), dtype=np.uint8)
    for image in (Image.fromarray(rgba, "RGBA"), Image.fromarray(rgba[..., 0], "L"),
                  Image.fromarray(rgba[..., :3], "RGB").convert("P")):
        assert default.do_convert_rgb is None
        with pytest.raises(ValueError):
            default(image, return_tensors="np")
        np.testing.assert_array_equal(bundle_image_rule(image, rule),
                                      converting(image, return_tensors="np")["pixel_values"][0])


def test_manifest_declares_the_graphs_and_no_embedding(bundle):
    m = manifest(bundle)
    check_manifest(m)
    assert "embedding" not in m
    assert_graphs_declared(bundle, m)
    assert [o["name"] for o in m["graphs"]["image_encoder"]["outputs"]] == ["token_features"]
    assert [o["name"] for o in m["graphs"]["text_encoder"]["outputs"]] == ["token_features"]
    assert [i["name"] for i in m["graphs"]["fusion_itm"]["inputs"]] == [
        "text_features", "text_mask", "image_features", "image_mask"]
    fusion = m["fusion"]
    assert fusion["directions"]["text_to_image"]["inputs"] == [
        {"name": "text_features", "source": "query.token_features"},
        {"name": "text_mask", "source": "query.attention_mask"},
        {"name": "image_features", "source": "candidate.token_features"},
        {"name": "image_mask", "source": "candidate.token_mask"}]
    assert fusion["documents"] == {"image": {"stores": ["token_features"]}, "caption": {"stores": ["token_features"]}}
    assert m["token_features"] == {"width": WIDTH, "feature_layers": LAYERS, "image_tokens": IMAGE_TOKENS,
                                   "layout": "[tokens = feature_layers x tokens_per_layer, width], layer-major",
                                   "codec": "int8", "codecs": ["fp32", "fp16", "int8"]}


def test_provenance_score_and_costs(bundle, checkpoint):
    m = assert_hf_provenance(bundle, checkpoint)
    assert m["model"]["family"] == "bridgetower" and m["model"]["architecture"] == hf_bridgetower.ARCHITECTURE
    assert m["score"] == SCORE and m["rerank"]["score_mode"] == "itm" and "itc_weight" not in m["rerank"]
    assert "no ITC" in m["rerank"]["first_stage"]
    assert m["text"] == {"tokenizer": "tokenizer.json", "max_tokens": 40, "preprocessing": "tokenizer_json",
                         "tokenizer_class": "RobertaTokenizer", "vocab_size": 417, "pad_id": 1, "cls_id": 0, "sep_id": 2}
    assert m["image"] == {
        "size": 32, "resize": "pil_bicubic", "shortest_edge": 32, "longest_edge": 53, "size_divisor": 16,
        "center_crop": True, "rescale": pytest.approx(1 / 255), "mean": pytest.approx([0.48145466, 0.4578275, 0.40821073]),
        "std": pytest.approx([0.26862954, 0.26130258, 0.27577711]), "alpha": "pil_convert_rgb", "exif_orientation": False,
        "channel_order": "RGB", "layout": "NCHW", "processor": "BridgeTowerImageProcessorPil"}
    assert m["bytes_per_image"] == bytes_per_item(LAYERS, IMAGE_TOKENS, WIDTH)
    # By hand, W 16, FFN 32, 40 text x 17 image tokens. A text layer: self-attention 4·40·16² + 2·40²·16,
    # cross-attention 2·40·16² + 2·17·16·16 + 2·40·17·16, FFN 2·40·16·32 = 184,064; an image layer, the roles
    # swapped: 4·17·16² + 2·17²·16 + 2·17·16² + 2·40·16·16 + 2·17·40·16 + 2·17·16·32 = 95,008. Two of each, two
    # poolers 2·16², the head 32 -> 2.
    assert m["fusion_flops_per_pair"] == 2 * (2 * 184_064 + 2 * 95_008 + 2 * 16 * 16 + 32 * 2)


def test_bundle_tokenizer_gives_the_checkpoints_ids(bundle):
    tokenizer = assert_tokenizer_fixture(bundle)
    ids = tokenizer.encode("a red circle on the left of the small dog").ids
    assert ids[0] == 0 and ids[-1] == 2 and len(ids) == 12  # <s>, one token a word, </s>
    assert tokenizer.decode(ids) == "a red circle on the left of the small dog"


def test_older_layout_and_other_depths(tmp_path):
    """pytorch_model.bin, vocab.json + merges.txt without tokenizer.json, 64 px in 16 px patches at
    the processor's default size_divisor, and every uni-modal layer linked (L = depth)."""
    source = write_checkpoint(tmp_path / "src", tiny_config(image_size=64, patch_size=16, layers=2, cross_layers=2),
                              seed=2, safetensors=False, tokenizer_json=False)
    assert not (source / "model.safetensors").exists() and not (source / "tokenizer.json").exists()
    m = hf_bridgetower.import_bundle(source, tmp_path / "out")
    assert {"pytorch_model.bin", "vocab.json", "merges.txt"} <= set(m["model"]["source"]["files"])
    assert max(m["export_check"]["max_abs_diff_vs_source"].values()) <= 1e-4
    assert m["token_features"]["image_tokens"] == 17 and m["image"]["size_divisor"] == 32
    assert m["image"]["longest_edge"] == 106
    fixture = json.loads((tmp_path / "out" / "reference" / "tokenizer_fixture.json").read_text())
    ours = json.loads((FIXTURE / "reference" / "tokenizer_fixture.json").read_text())
    assert fixture["cases"] == ours["cases"]  # vocab.json + merges.txt tokenize as tokenizer.json does


def grow_vocabulary(directory, words):
    """A vocab.json with more tokens than the model has embeddings (and no tokenizer.json)."""
    vocab = json.loads((directory / "vocab.json").read_text())
    vocab.update({w: len(vocab) + i for i, w in enumerate(words)})
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "tokenizer.json").unlink()


def edit_text_config(directory, **changes):
    config = json.loads((directory / "config.json").read_text())
    config["text_config"].update(changes)
    (directory / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("breakage, message", hf_refusals(
    hf_bridgetower.ARCHITECTURE, "BridgeTowerForMaskedLM", "blip", missing_key="itm_score.fc.weight",
    mismatched=("itm_score.fc.weight", (2, 48), (2, 32))) + [
    (lambda d: edit_json(d / "config.json", architectures=["BridgeTowerForContrastiveLearning"]),
     r"config.json\] names \['BridgeTowerForContrastiveLearning'\] but \[.*model.safetensors\] holds none of its "
     r"heads \['itc_text_head'"),
    (lambda d: edit_weights(d / "model.safetensors", lambda w: w.update({"mlm_score.decoder.extra": torch.zeros(2)})),
     r"model.safetensors\] has unexpected keys \['mlm_score.decoder.extra'\]"),
    (lambda d: [(d / n).unlink() for n in ("tokenizer.json", "vocab.json")], r"no \[tokenizer.json\], nor \[vocab.json\]"),
    (lambda d: edit_json(d / "config.json", hidden_size=32),
     r"config.json\] hidden_size \[32\] differs from text_config.hidden_size \[16\]"),
    (lambda d: edit_json(d / "config.json", num_hidden_layers=4),
     r"config.json\] num_hidden_layers \[4\] cross-modal layers .* text_config's \[3\]"),
    (lambda d: edit_json(d / "config.json", share_link_tower_layers=True), r"config.json\] share_link_tower_layers"),
    (lambda d: grow_vocabulary(d, ["zebra", "yak", "xylophone"]),
     r"tokenizer \[.*vocab.json\] gives token \[.+\] the id \[\d+\], outside .*vocab_size \[417\]"),
    (lambda d: edit_json(d / "preprocessor_config.json", do_center_crop=False),
     r"preprocessor_config.json\] do_center_crop \[False\]"),
    (lambda d: edit_json(d / "preprocessor_config.json", crop_size={"shortest_edge": 64}),
     r"preprocessor_config.json\] crop_size .*64.* image_size \[32\]"),
    (lambda d: edit_json(d / "preprocessor_config.json", crop_size={"height": 32, "width": 32}),
     r"preprocessor_config.json\] crop_size .*'height': 32.* image_size \[32\]"),
    (lambda d: edit_json(d / "preprocessor_config.json", size={"height": 32, "width": 32}),
     r"preprocessor_config.json\] size .* has no shortest_edge"),
])
def test_malformed_checkpoints_are_refused(checkpoint, tmp_path, breakage, message):
    assert_refused(hf_bridgetower, checkpoint, tmp_path, breakage, message)


def test_cli_dispatches_on_model_type_and_exits_2_with_the_message(checkpoint, tmp_path, capsys):
    assert import_model.main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert f"[{tmp_path}] has no [config.json]" in capsys.readouterr().err
    source = broken(checkpoint, tmp_path)
    edit_json(source / "config.json", model_type="clip")
    assert import_model.main([str(source), "--out", str(tmp_path / "out")]) == 2
    assert (f"[{source / 'config.json'}] has model_type [clip]; supported model types: ['blip', 'bridgetower', 'vilt']"
            in capsys.readouterr().err)
    edit_json(source / "config.json", model_type="bridgetower", hidden_size=32)
    assert import_model.main([str(source), "--out", str(tmp_path / "out")]) == 2
    assert "hidden_size [32] differs" in capsys.readouterr().err  # the BridgeTower importer's refusal


def assert_cli_writes(fixture: Path, source: Path, tmp_path, capsys, max_bytes: int) -> dict:
    """``source`` through the command line as ``make-<fixture>`` runs it gives the committed
    ``fixture``, byte for byte (the manifest's files section) but for the source directory's name,
    in under ``max_bytes``; returns the committed manifest."""
    out = tmp_path / fixture.name
    threads = torch.get_num_threads()
    try:  # as the make script runs it: a thread count can change the last bits of the reference arrays
        assert import_model.main([str(source), "--out", str(out), "--codec", "fp32", "--name", fixture.name,
                                  "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    printed = json.loads(capsys.readouterr().out)
    assert printed["family"] == "bridgetower" and max(printed["parity"].values()) <= 1e-4
    written, committed = manifest(out), manifest(fixture)
    for m in (written, committed):
        m["model"]["source"].pop("directory")
        m["model"]["config"].pop("_name_or_path")
    assert written == committed
    sizes = sum(entry["bytes"] for entry in committed["files"].values()) + (fixture / "manifest.json").stat().st_size
    assert sizes < max_bytes
    return committed


def test_cli_writes_the_committed_java_fixture(tmp_path, capsys):
    """make-bridgetower-tiny's checkpoint through the command line gives the committed bundle."""
    source = write_checkpoint(tmp_path / "src", tiny_config(), seed=0, size_divisor=TINY_SIZE_DIVISOR)
    assert_cli_writes(FIXTURE, source, tmp_path, capsys, 1_000_000)


# --- Checkpoints with ITC heads (bridgetower-large-itm-mlm-itc's layout) ---

ITC_DIM, WIDTH_ITC = TINY_CONTRASTIVE_SIZE, TINY_ITC_WIDTH


def unshared_itc_config():
    config = tiny_itc_config()
    config.share_cross_modal_transformer_layers = False
    return config


@pytest.fixture(scope="module")
def itc_checkpoint(tmp_path_factory):
    """Three uni-modal layers a side, the top two linked (the Java fixture links its one), 64 wide,
    with ITC, ITM and MLM heads in one weight file saved as BridgeTowerForContrastiveLearning."""
    return write_checkpoint(tmp_path_factory.mktemp("bridgetower-itc"), tiny_itc_config(layers=3, cross_layers=2),
                            seed=3, size_divisor=TINY_SIZE_DIVISOR, itc=True)


@pytest.fixture(scope="module")
def itc_bundle(itc_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "bridgetower-itc"
    hf_bridgetower.import_bundle(itc_checkpoint, out)
    return out


def load_source(cls, checkpoint):
    return cls.from_pretrained(checkpoint, local_files_only=True, attn_implementation="eager").eval()


def test_itc_checkpoint_layout(itc_checkpoint):
    """What the importer is written against: the contrastive model's config and weights, plus the
    ITM and MLM heads, in one file."""
    config = json.loads((itc_checkpoint / "config.json").read_text())
    assert config["architectures"] == ["BridgeTowerForContrastiveLearning"]
    assert config["contrastive_hidden_size"] == ITC_DIM and config["logit_scale_init_value"] == pytest.approx(2.6592)
    heads = {k.split(".")[0] for k in load_file(str(itc_checkpoint / "model.safetensors"))}
    assert heads == {"bridgetower", "itc_text_head", "itc_image_head", "itc_cross_modal_head", "logit_scale",
                     "itm_score", "mlm_score"}


def test_itc_graphs_match_the_source_forwards_on_new_inputs(itc_bundle, itc_checkpoint, tokenizer):
    """A padded batch of new captions and new images: the encoders' ``embedding`` against
    ``BridgeTowerForContrastiveLearning.forward``'s ``text_embeds`` and ``image_embeds``, their token
    features against the states ``BridgeTowerForImageAndTextRetrieval.forward`` records, and the ITM
    logits of every pair against that forward (all within 1e-4)."""
    contrastive = load_source(transformers.BridgeTowerForContrastiveLearning, itc_checkpoint)
    retrieval = load_source(transformers.BridgeTowerForImageAndTextRetrieval, itc_checkpoint)
    texts = ["a cat", "two small red stars riding the large green horse on the left", "the photo of a dog"]
    enc = tokenizer(texts, padding="longest", truncation=True, max_length=40, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert mask.min() == 0  # padded
    pixels = torch.from_numpy(np.random.default_rng(6).normal(size=(2, 3, 32, 32)).astype(np.float32))
    img_emb, img_feat = session(itc_bundle, "image_encoder").run(None, {"pixels": pixels.numpy()})
    txt_emb, txt_feat = session(itc_bundle, "text_encoder").run(None, {"input_ids": ids.numpy(),
                                                                       "attention_mask": mask.numpy()})
    with torch.no_grad():
        itc = contrastive(input_ids=ids, attention_mask=mask, pixel_values=pixels[[0, 1, 0]])
        itm = retrieval(input_ids=ids.repeat(2, 1), attention_mask=mask.repeat(2, 1),
                        pixel_values=pixels.repeat_interleave(3, 0))
        split = hf_bridgetower.split_index(retrieval.bridgetower)
        text_expected, image_expected = features_from_the_forward(retrieval, itm.hidden_states, split)
    np.testing.assert_allclose(txt_emb, itc.text_embeds.numpy(), atol=1e-4)
    np.testing.assert_allclose(img_emb, itc.image_embeds[:2].numpy(), atol=1e-4)
    assert img_emb.shape == (2, ITC_DIM) and txt_emb.shape == (3, ITC_DIM)
    np.testing.assert_allclose(np.linalg.norm(img_emb, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(txt_feat, text_expected[:3].numpy(), atol=1e-4)
    np.testing.assert_allclose(img_feat, image_expected[::3].numpy(), atol=1e-4)
    logits = run_fusion(itc_bundle, np.tile(txt_feat, (2, 1, 1)), np.tile(mask.numpy(), (2, 1)),
                        np.repeat(img_feat, 3, axis=0))
    np.testing.assert_allclose(logits, itm.logits.numpy(), atol=1e-4)
    assert np.ptp(logits[:, 1]) > 0.1 and np.ptp(txt_emb @ img_emb.T) > 0.01  # real, distinct numbers
    # A caption alone, unpadded (a query), has the vector it has in the padded batch (a document).
    alone = tokenizer(texts[1:2], return_tensors="np")
    emb, _ = session(itc_bundle, "text_encoder").run(None, {"input_ids": alone["input_ids"],
                                                           "attention_mask": alone["attention_mask"]})
    np.testing.assert_allclose(emb, txt_emb[1:2], atol=1e-5)


def test_itc_reference_and_manifest(itc_bundle, itc_checkpoint):
    """The reference vectors are the contrastive forward's and the graphs reproduce them; the
    manifest declares the embedding (and passes check_manifest with it), documents store it, the
    rerank section says how BridgeTower ranks with ITC."""
    m = manifest(itc_bundle)
    check_manifest(m)
    assert m["embedding"] == {"dim": ITC_DIM, "normalized": True, "similarity": "dot_product"}
    for key in ("image_encoder", "text_encoder"):
        assert [o["name"] for o in m["graphs"][key]["outputs"]] == ["embedding", "token_features"]
        assert m["graphs"][key]["outputs"][0]["shape"] == ["batch", ITC_DIM]
    assert_graphs_declared(itc_bundle, m)
    assert m["fusion"]["documents"] == {"image": {"stores": ["embedding", "token_features"]},
                                        "caption": {"stores": ["embedding", "token_features"]}}
    assert m["rerank"]["score_mode"] == "itm" and m["rerank"]["itc_weight"] == 1.0
    assert "compute_irtr_itm_itc_recall" in m["rerank"]["chosen_by"]
    assert m["rerank"]["first_stage"].startswith("this bundle's embedding")
    assert m["model"]["architecture"] == hf_bridgetower.ARCHITECTURE
    assert m["model"]["itc_architecture"] == "BridgeTowerForContrastiveLearning"
    retrieval = load_source(transformers.BridgeTowerForImageAndTextRetrieval, itc_checkpoint)
    assert m["model"]["parameters"] == sum(p.numel() for p in retrieval.parameters()) + 2 * (WIDTH_ITC * ITC_DIM + ITC_DIM)
    assert m["token_features"]["width"] == WIDTH_ITC and m["token_features"]["feature_layers"] == 2
    parity = m["export_check"]["max_abs_diff_vs_source"]
    assert set(parity) == {"image_embedding", "text_embedding", "itc_similarity", "image_token_features",
                           "text_token_features", "itm_logits"}
    assert max(parity.values()) <= 1e-4, parity

    ref = json.loads((itc_bundle / "reference" / "reference.json").read_text())
    assert "BridgeTowerForContrastiveLearning.forward" in ref["embedding_source"]
    contrastive = load_source(transformers.BridgeTowerForContrastiveLearning, itc_checkpoint)
    pixels, ids, mask = (torch.from_numpy(reference(itc_bundle, n)) for n in ("pixels", "input_ids", "attention_mask"))
    with torch.no_grad():  # the stored vectors are the forward's, image by image and caption by caption
        for i in range(5):
            out = contrastive(input_ids=ids[i % 4:i % 4 + 1], attention_mask=mask[i % 4:i % 4 + 1],
                              pixel_values=pixels[i:i + 1])
            np.testing.assert_allclose(reference(itc_bundle, "image_embedding")[i], out.image_embeds[0], atol=1e-5)
            np.testing.assert_allclose(reference(itc_bundle, "text_embedding")[i % 4], out.text_embeds[0], atol=1e-5)
    img_emb, _ = session(itc_bundle, "image_encoder").run(None, {"pixels": pixels.numpy()})
    txt_emb, _ = session(itc_bundle, "text_encoder").run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    np.testing.assert_allclose(img_emb, reference(itc_bundle, "image_embedding"), atol=1e-4)
    np.testing.assert_allclose(txt_emb, reference(itc_bundle, "text_embedding"), atol=1e-4)


def drop(prefix):
    return lambda w: [w.pop(k) for k in [k for k in w if k.startswith(prefix)]]


@pytest.mark.parametrize("breakage, message", [
    (lambda d: edit_weights(d / "model.safetensors", drop("itm_score.")),
     r"model.safetensors\] holds ITC heads but no ITM head \(missing keys \['itm_score.fc.bias', "
     r"'itm_score.fc.weight'\]\).*nothing to rerank with"),
    (lambda d: edit_weights(d / "model.safetensors", drop("itc_image_head.fc.weight")),
     r"model.safetensors\] has missing keys \['itc_image_head.fc.weight'\] \(loaded as BridgeTowerForContrastiveLearning\)"),
    (lambda d: edit_weights(d / "model.safetensors", drop("logit_scale")),
     r"model.safetensors\] has missing keys \['logit_scale'\] \(loaded as BridgeTowerForContrastiveLearning\)"),
    (lambda d: edit_weights(d / "model.safetensors", lambda w: w.update({"itc_text_head.fc.weight": torch.zeros(16, 64)})),
     r"model.safetensors\] has mismatched keys \['itc_text_head.fc.weight of shape \[16, 64\] where \[config.json\] "
     r"builds \[32, 64\]'\] "
     r"\(loaded as BridgeTowerForContrastiveLearning\)"),
    (lambda d: edit_weights(d / "model.safetensors", lambda w: w.update({"itc_extra_head.fc.weight": torch.zeros(2)})),
     r"model.safetensors\] has unexpected keys \['itc_extra_head.fc.weight'\]"),
    (lambda d: edit_weights(d / "model.safetensors", lambda w: w.update({"itc_text_head.extra": torch.zeros(2)})),
     r"model.safetensors\] has unexpected keys \['itc_text_head.extra'\] \(loaded as BridgeTowerForContrastiveLearning\)"),
    (lambda d: edit_json(d / "config.json", contrastive_hidden_size=None),
     r"config.json\] contrastive_hidden_size \[None\] must be a positive integer"),
    (lambda d: edit_json(d / "config.json", logit_scale_init_value="2.6"),
     r"config.json\] logit_scale_init_value \[2.6\] must be a number"),
])
def test_malformed_itc_checkpoints_are_refused(itc_checkpoint, tmp_path, breakage, message):
    source = broken(itc_checkpoint, tmp_path)
    breakage(source)
    with pytest.raises(CheckpointError, match=message):
        hf_bridgetower.read_checkpoint(source)


@pytest.mark.parametrize("config, message", [
    (itc_config(tiny_config(layers=1, cross_layers=1), ITC_DIM),
     r"config.json\] vision_config.hidden_size \[64\] differs from hidden_size \[16\]: "
     r"BridgeTowerForContrastiveLearning.forward adds"),
    (unshared_itc_config(),
     r"config.json\] share_cross_modal_transformer_layers \[false\] is not supported with ITC heads"),
])
def test_itc_checkpoints_the_contrastive_forward_cannot_run_are_refused(tmp_path, config, message):
    source = write_checkpoint(tmp_path / "src", config, seed=4, size_divisor=TINY_SIZE_DIVISOR, itc=True)
    with pytest.raises(CheckpointError, match=message):
        hf_bridgetower.read_checkpoint(source)


def test_an_mlm_head_beside_the_itm_head_is_no_itc(checkpoint, tmp_path):
    """A retrieval checkpoint whose file also holds BridgeTowerForMaskedLM's head (as
    bridgetower-base-itm-mlm's does) loads as before, without ITC."""
    source = broken(checkpoint, tmp_path)
    cfg = transformers.BridgeTowerConfig.from_pretrained(source)
    head = {f"mlm_score.{k}": v for k, v in
            transformers.models.bridgetower.modeling_bridgetower.BridgeTowerMLMHead(cfg).state_dict().items()}
    edit_weights(source / "model.safetensors", lambda w: w.update(head))
    assert hf_bridgetower.read_checkpoint(source).itc_model is None


def test_cli_writes_the_committed_itc_java_fixture(tmp_path, capsys):
    """make-bridgetower-itc-tiny's checkpoint through the command line gives the committed bundle."""
    source = write_checkpoint(tmp_path / "src", tiny_itc_config(), seed=0, size_divisor=TINY_SIZE_DIVISOR, itc=True)
    committed = assert_cli_writes(ITC_FIXTURE, source, tmp_path, capsys, 1_300_000)
    assert committed["embedding"]["dim"] == ITC_DIM and committed["token_features"]["feature_layers"] == 1
