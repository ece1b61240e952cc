"""scripts/import-model on ALBEF ``.pth`` checkpoints: the tiny random-weight checkpoint that
ALBEF's own code wrote (``tests/fixtures/albef/``, see ``test_albef.py``), laid out as a released
one is, imported, then checked in ONNX Runtime against ``families/albef.py``'s forward and against
the outputs ALBEF's own code recorded for it.
"""

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from tokenizers import Tokenizer

import data
import import_model
from bundle_io import read_reference as reference, sha256
from families.albef import AlbefInputs
from families.albef_checkpoint import load_albef
from feature_codec import bytes_per_item
from fusion_contract import check_manifest
from import_checks import assert_committed_fixture, manifest
from importers import CheckpointError, albef
from retrieval_eval import SCORE
from tools.albef_tiny_bundle import DEFAULT_OUT, FIXTURE, TINY_VISION, write_tiny_source

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_tiny_source(tmp_path_factory.mktemp("albef-src"))


@pytest.fixture(scope="module")
def bundle(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "albef-tiny"
    albef.import_bundle(source, out, vision=TINY_VISION)
    return out


@pytest.fixture(scope="module")
def model(source):
    return load_albef(source / "albef_tiny.pth", source / "config_bert.json", **TINY_VISION)


@pytest.fixture(scope="module")
def recorded():
    """ALBEF's own code's inputs and outputs for the fixture checkpoint."""
    return torch.load(FIXTURE / "reference.pt", weights_only=True)


def run(bundle, name, **inputs):
    session = ort.InferenceSession(str(bundle / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in inputs.items()})


def assert_close(ours, expected, what):
    diff = float(np.abs(np.asarray(ours) - np.asarray(expected)).max())
    assert diff <= TOLERANCE, f"{what}: max abs diff {diff}"


def graphs(bundle, pixels, ids, mask, pairs):
    """The three graphs on images, captions and (caption, image) index pairs."""
    image_embed, image_feats = run(bundle, "image_encoder", pixels=pixels)
    text_embed, text_feats = run(bundle, "text_encoder", input_ids=ids, attention_mask=mask)
    text, image = pairs[:, 0], pairs[:, 1]
    (logits,) = run(bundle, "fusion_itm", text_features=torch.from_numpy(text_feats[text]), text_mask=mask[text],
                    image_features=torch.from_numpy(image_feats[image]),
                    image_mask=torch.ones(len(pairs), image_feats.shape[1], dtype=torch.long))
    return {"image_embed": image_embed, "image_feats": image_feats, "text_embed": text_embed, "text_feats": text_feats,
            "itm_logits": logits}


def test_graphs_reproduce_albefs_own_recorded_outputs(bundle, recorded):
    """The ONNX graphs on ALBEF's inputs give what ALBEF's code computed: ITC vectors, token
    states, and the ITM logits of all 9 (caption, image) pairs."""
    out = graphs(bundle, recorded["pixels"], recorded["ids"], recorded["mask"], recorded["itm_pairs"])
    for name, value in out.items():
        assert_close(value, recorded[name], name)
    assert recorded["itm_logits"][:, 1].std() > 0.5  # the pairs' logits differ: the check discriminates


def test_graphs_match_the_source_forward_on_new_inputs(bundle, model):
    """Batch sizes and caption lengths the export never saw."""
    torch.manual_seed(5)
    pixels = torch.randn(5, 3, 32, 32)
    ids = torch.randint(5, 80, (3, 13))
    ids[:, 0], ids[:, -1] = 2, 3
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    ids[1, 7:] = 0
    pairs = torch.tensor([[t, i] for t in range(3) for i in range(5)])
    out = graphs(bundle, pixels, ids, mask, pairs)
    with torch.no_grad():
        image_embed, image_feats = model.encode_image(pixels)
        text_embed, text_feats = model.encode_text(ids, mask)
        logits = model.itm_logits(text_feats[pairs[:, 0]], mask[pairs[:, 0]], image_feats[pairs[:, 1]])
    expected = {"image_embed": image_embed, "image_feats": image_feats, "text_embed": text_embed,
                "text_feats": text_feats, "itm_logits": logits}
    for name, value in expected.items():
        assert_close(out[name], value, name)


def test_reference_outputs_are_the_source_forwards(bundle, source, model):
    """Pixels from ALBEF's transform (data.ImageTransform, pil_bicubic, its mean/std), ids from
    pre_caption + the tokenizer, outputs from the forward; the ONNX parity recorded in the manifest."""
    ref = json.loads((bundle / "reference" / "reference.json").read_text())
    transform = data.ImageTransform(32, AlbefInputs.mean, AlbefInputs.std, "pil_bicubic")
    pixels = torch.stack([transform(bundle / p) for p in ref["images"]])
    np.testing.assert_array_equal(reference(bundle, "pixels"), pixels.numpy())
    src = albef.read_source(source, vision=TINY_VISION)
    ids, mask = albef.tokenize(src, ref["captions"], 30)
    np.testing.assert_array_equal(reference(bundle, "input_ids"), ids.numpy())
    np.testing.assert_array_equal(reference(bundle, "attention_mask"), mask.numpy())
    assert ref["captions"][0] != data.pre_caption(ref["captions"][0], 30)  # the captions exercise the cleaning
    with torch.no_grad():
        image_embed, image_feats = model.encode_image(pixels)
        text_embed, text_feats = model.encode_text(ids, mask)
        n_img, n_txt = len(pixels), len(ids)
        logits = model.itm_logits(text_feats.repeat(n_img, 1, 1), mask.repeat(n_img, 1),
                                  image_feats.repeat_interleave(n_txt, 0)).view(n_img, n_txt, 2)
    for name, value in (("image_embedding", image_embed), ("image_token_features", image_feats),
                        ("text_embedding", text_embed), ("text_token_features", text_feats), ("itm_logits", logits)):
        np.testing.assert_array_equal(reference(bundle, name), value.numpy(), err_msg=name)
    parity = manifest(bundle)["export_check"]["max_abs_diff_vs_source"]
    assert set(parity) == {"image_embedding", "image_token_features", "text_embedding", "text_token_features", "itm_logits"}
    assert max(parity.values()) <= TOLERANCE


def test_manifest_declares_the_graphs_our_java_side_reads(bundle):
    m = manifest(bundle)
    check_manifest(m)
    expected = {"image_encoder": (["pixels"], ["embedding", "token_features"]),
                "text_encoder": (["input_ids", "attention_mask"], ["embedding", "token_features"]),
                "fusion_itm": (["text_features", "text_mask", "image_features", "image_mask"], ["itm_logits"])}
    for key, (inputs, outputs) in expected.items():
        graph = onnx.load(str(bundle / m["graphs"][key]["file"])).graph
        assert [t.name for t in graph.input] == inputs == [t["name"] for t in m["graphs"][key]["inputs"]]
        assert [t.name for t in graph.output] == outputs == [t["name"] for t in m["graphs"][key]["outputs"]]
    assert m["graphs"]["image_encoder"]["outputs"][1]["shape"] == ["batch", 17, 32]
    assert m["token_features"] | {"codecs": None} == {
        "width": 32, "feature_layers": 1, "image_tokens": 17, "codec": "int8", "codecs": None,
        "layout": "[tokens = feature_layers x tokens_per_layer, width], layer-major"}
    assert m["fusion"]["documents"] == {"image": {"stores": ["embedding", "token_features"]},
                                        "caption": {"stores": ["embedding", "token_features"]}}
    assert m["text"] | {"pad_id": 0, "cls_id": 2, "sep_id": 3} == m["text"]
    assert (m["text"]["preprocessing"], m["text"]["max_words"], m["text"]["max_tokens"]) == ("albef_pre_caption", 30, 30)
    assert m["image"]["resize"] == "pil_bicubic" and m["image"]["size"] == 32
    assert (m["image"]["mean"], m["image"]["std"]) == (list(AlbefInputs.mean), list(AlbefInputs.std))


def test_provenance_score_and_costs(bundle, source):
    m = manifest(bundle)
    assert m["model"]["family"] == "albef"
    assert m["model"]["definition"]["verified_against"]["commit"] == albef.ALBEF_COMMIT
    files = m["model"]["source"]["files"]
    for role, name in (("checkpoint", "albef_tiny.pth"), ("bert_config", "config_bert.json"), ("tokenizer", "vocab.txt")):
        assert files[role] == {"name": name, "sha256": sha256(source / name), "bytes": (source / name).stat().st_size}
    assert m["model"]["source"]["run_config"]["image_res"] == 32
    assert m["score"] == SCORE
    assert m["rerank"]["score_mode"] == "itm" and "itc_weight" not in m["rerank"]
    # By hand: 2 fusion layers, width 32, FFN 64, 30 text x 17 image tokens.
    w, f, l, t = 32, 64, 30, 17
    per_layer = 4 * l * w * w + 2 * l * l * w + 2 * l * w * w + 2 * t * w * w + 2 * l * t * w + 2 * l * w * f
    assert m["fusion_flops_per_pair"] == 2 * (2 * per_layer + 2 * w)
    assert m["bytes_per_image"] == bytes_per_item(1, 17, 32) == {"fp32": 10 + 17 * 32 * 4, "fp16": 10 + 17 * 32 * 2,
                                                                 "int8": 10 + 17 * 36}


def test_bundle_tokenizer_gives_the_source_ids(bundle, source):
    """tokenizer.json (what Java's TextTokenizer loads) gives the source tokenizer's ids for the
    fixture's cleaned texts."""
    fixture = json.loads((bundle / "reference" / "tokenizer_fixture.json").read_text())
    tokenizer = Tokenizer.from_file(str(bundle / "tokenizer.json"))
    src = albef.read_source(source, vision=TINY_VISION)
    for case in fixture["cases"]:
        assert case["clean"] == data.pre_caption(case["text"], 30)
        assert case["clean_ids"] == src.tokenizer(case["clean"], truncation=True, max_length=30)["input_ids"]
        full = tokenizer.encode(case["clean"]).ids  # untruncated: Java truncates to max_tokens, keeping [SEP]
        assert (full if len(full) <= 30 else full[:29] + [full[-1]]) == case["clean_ids"], case["text"]
    assert any(1 not in c["clean_ids"] and len(c["clean_ids"]) > 3 for c in fixture["cases"])  # real words, not [UNK]


def test_a_tokenizer_json_source_imports_the_same_ids(bundle, source, tmp_path):
    other = tmp_path / "src"
    shutil.copytree(source, other)
    (other / "vocab.txt").unlink()
    shutil.copyfile(bundle / "tokenizer.json", other / "tokenizer.json")
    src = albef.read_source(other, vision=TINY_VISION)
    assert src.tokenizer_file.name == "tokenizer.json"
    ids, _ = albef.tokenize(src, ["A red circle, on the LEFT."], 30)
    assert ids.tolist() == albef.tokenize(albef.read_source(source, vision=TINY_VISION), ["a red circle on the left"], 30)[0].tolist()


def edit_checkpoint(path, edit):
    saved = torch.load(path, weights_only=True)
    edit(saved["model"])
    torch.save(saved, path)


def edit_bert_config(path, **changes):
    config = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path.write_text(json.dumps(config))


def breakage(name):
    def grow_vocabulary(s):
        (s / "vocab.txt").write_text((s / "vocab.txt").read_text() + "".join(f"w{i}\n" for i in range(30)))

    return {
        "missing weight": (lambda s: edit_checkpoint(s / "albef_tiny.pth", lambda m: m.pop("itm_head.weight")),
                           r"albef_tiny\.pth\].*missing keys \['itm_head\.weight'\]"),
        "unexpected key": (lambda s: edit_checkpoint(s / "albef_tiny.pth",
                                                     lambda m: m.__setitem__("text_encoder.pooler.dense.bias", torch.zeros(32))),
                           r"unexpected keys \['text_encoder\.pooler\.dense\.bias'\]"),
        "config of another family": (lambda s: edit_bert_config(s / "config_bert.json", fusion_layer=None,
                                                                model_type="blip"),
                                     r"config_bert\.json\].*no \[fusion_layer\].*model_type \[blip\]"),
        "config without a field": (lambda s: edit_bert_config(s / "config_bert.json", intermediate_size=None),
                                   r"BERT config \[.*config_bert\.json\] has no field \[intermediate_size\]"),
        "config not JSON": (lambda s: (s / "config_bert.json").write_text("{"), r"config_bert\.json\] is not JSON"),
        "tokenizer larger than the vocabulary": (grow_vocabulary,
                                                 r"tokenizer \[.*vocab\.txt\] gives token \[w29\] the id \[111\], outside "
                                                 r"\[.*config_bert\.json\] vocab_size \[100\]"),
        "no tokenizer": (lambda s: (s / "vocab.txt").unlink(),
                         r"no \[tokenizer\.json\] or \[vocab\.txt\] beside \[.*albef_tiny\.pth\]; pass --tokenizer"),
        "no BERT config": (lambda s: (s / "config_bert.json").unlink(),
                           r"no \[config_bert\.json\] beside \[.*albef_tiny\.pth\]; pass --bert-config"),
        "damaged .pth": (lambda s: (s / "albef_tiny.pth").write_bytes(b"not a checkpoint"),
                         r"\[.*albef_tiny\.pth\] could not be loaded as an ALBEF checkpoint"),
        "not an ALBEF checkpoint": (lambda s: torch.save({"state_dict": {}}, s / "albef_tiny.pth"),
                                    r"albef_tiny\.pth\] holds no \[model\] state dict"),
        "two .pth files": (lambda s: shutil.copyfile(s / "albef_tiny.pth", s / "other.pth"),
                           r"holds several \.pth files \['albef_tiny\.pth', 'other\.pth'\]"),
    }[name]


BREAKAGES = ["missing weight", "unexpected key", "config of another family", "config without a field", "config not JSON",
             "tokenizer larger than the vocabulary", "no tokenizer", "no BERT config", "damaged .pth",
             "not an ALBEF checkpoint", "two .pth files"]


@pytest.mark.parametrize("name", BREAKAGES)
def test_malformed_checkpoints_are_refused_naming_the_file_or_key(source, tmp_path, name):
    broken = tmp_path / "src"
    shutil.copytree(source, broken)
    edit, message = breakage(name)
    edit(broken)
    with pytest.raises(CheckpointError, match=message):
        albef.import_bundle(broken, tmp_path / "out", vision=TINY_VISION)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_cased_tokenizer_is_refused(source, tmp_path):
    broken = tmp_path / "src"
    shutil.copytree(source, broken)
    (broken / "vocab.txt").unlink()
    tokenizer = albef.read_source(source, vision=TINY_VISION).tokenizer.backend_tokenizer
    config = json.loads(tokenizer.to_str())
    config["normalizer"]["lowercase"] = False
    (broken / "tokenizer.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"tokenizer \[.*tokenizer\.json\] does not lowercase"):
        albef.read_source(broken, vision=TINY_VISION)


def test_cli_detects_the_family_and_exits_2_with_the_message(source, tmp_path, capsys):
    # The command line builds ALBEF's fixed ViT-B/16 (12 heads), which the tiny checkpoint's width 32 cannot hold.
    assert import_model.main([str(source / "albef_tiny.pth"), "--out", str(tmp_path / "out")]) == 2
    assert "albef_tiny.pth] with BERT config [" in capsys.readouterr().err
    assert import_model.main([str(tmp_path), "--out", str(tmp_path / "out"), "--bert-config", "x.json"]) == 2
    assert "--bert-config and --tokenizer are for ALBEF .pth checkpoints" in capsys.readouterr().err


def test_the_committed_java_fixture_is_this_importers_output(bundle):
    """``encoder/src/test/resources/bundles/albef-tiny`` (what the Java tests load) is what the
    importer writes today: the same contract sections and the same reference outputs."""
    assert_committed_fixture(bundle, DEFAULT_OUT)
