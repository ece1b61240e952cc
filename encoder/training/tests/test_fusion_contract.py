"""The manifest's fusion declaration: derived per direction from one mapping, and checked against
the graphs it describes (our ALBEF-style graphs as shipped, and errors that name the field)."""

import copy
import json
from pathlib import Path

import pytest

import export
from fusion_contract import check_manifest, fusion_section

SHIPPED = Path(__file__).resolve().parents[3] / "models" / "fuserank-small" / "manifest.json"


@pytest.fixture
def albef():
    """The shipped bundle's graphs with the declaration export.py now writes for them."""
    manifest = json.loads(SHIPPED.read_text())
    manifest["fusion"] = fusion_section(export.FUSION_INPUTS)
    return manifest


def test_our_bundles_are_expressible(albef):
    check_manifest(albef)
    directions = albef["fusion"]["directions"]
    assert directions["text_to_image"]["inputs"] == [
        {"name": "text_features", "source": "query.token_features"}, {"name": "text_mask", "source": "query.attention_mask"},
        {"name": "image_features", "source": "candidate.token_features"},
        {"name": "image_mask", "source": "candidate.token_mask"}]
    assert [i["source"] for i in directions["image_to_text"]["inputs"]] == [
        "candidate.token_features", "candidate.attention_mask", "query.token_features", "query.token_mask"]
    assert albef["fusion"]["documents"] == {"image": {"stores": ["embedding", "token_features"]},
                                            "caption": {"stores": ["embedding", "token_features"]}}


def test_a_graph_input_the_declaration_lacks_is_named(albef):
    broken = copy.deepcopy(albef)
    broken["graphs"]["fusion_itm"]["inputs"].append({"name": "extra", "dtype": "float32", "shape": ["batch"]})
    with pytest.raises(ValueError, match=r"fusion.directions.text_to_image.inputs .* graphs.fusion_itm .*'extra'"):
        check_manifest(broken)


def test_features_from_an_encoder_without_them_are_refused(albef):
    broken = copy.deepcopy(albef)
    broken["graphs"]["text_encoder"]["outputs"] = broken["graphs"]["text_encoder"]["outputs"][:1]
    with pytest.raises(ValueError, match=r"input \[text_features\] source \[query.token_features\]: "
                                         r"graphs.text_encoder has no token_features output"):
        check_manifest(broken)


def test_a_document_must_store_what_its_direction_reads(albef):
    broken = copy.deepcopy(albef)
    broken["fusion"]["documents"]["caption"]["stores"] = ["embedding"]
    with pytest.raises(ValueError, match=r"image_to_text input \[text_features\] .*: fusion.documents.caption.stores lacks \[token_features\]"):
        check_manifest(broken)


def test_a_quantity_of_the_wrong_modality_is_refused(albef):
    with pytest.raises(ValueError, match=r"\[image_ids\] has source \[image.token_ids\]: image has no token_ids"):
        fusion_section({"image_ids": "image.token_ids"})
    broken = copy.deepcopy(albef)
    broken["fusion"]["directions"]["text_to_image"]["inputs"][2]["source"] = "candidate.attention_mask"
    with pytest.raises(ValueError, match=r"source \[candidate.attention_mask\]: the candidate is image"):
        check_manifest(broken)


def test_unknown_sources_are_named():
    with pytest.raises(ValueError, match=r"\[x\] has source \[text.pixels\]; valid quantities"):
        fusion_section({"x": "text.pixels"})
    with pytest.raises(ValueError, match=r"\[x\] has source \[audio.token_ids\]; its prefix must be one of"):
        fusion_section({"x": "audio.token_ids"})


def test_a_model_without_itc_stores_no_embedding(albef):
    """``embedding=False`` (BridgeTower's retrieval model): documents store only what the fusion
    graph reads; the default keeps every existing declaration as it was."""
    assert fusion_section(export.FUSION_INPUTS, embedding=True) == fusion_section(export.FUSION_INPUTS)
    declaration = fusion_section(export.FUSION_INPUTS, embedding=False)
    assert declaration["documents"] == {"image": {"stores": ["token_features"]}, "caption": {"stores": ["token_features"]}}
    assert declaration["directions"] == albef["fusion"]["directions"]
    no_itc = copy.deepcopy(albef)
    for graph in ("image_encoder", "text_encoder"):
        no_itc["graphs"][graph]["outputs"] = [o for o in no_itc["graphs"][graph]["outputs"] if o["name"] != "embedding"]
    no_itc["fusion"] = declaration
    check_manifest(no_itc)
    no_itc["fusion"] = albef["fusion"]  # documents that claim an embedding no encoder outputs
    with pytest.raises(ValueError, match=r"fusion.documents.image.stores has \[embedding\] but "
                                         r"graphs.image_encoder has no embedding output"):
        check_manifest(no_itc)
