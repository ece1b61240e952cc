"""families/albef.py and its checkpoint mapper against ALBEF's own code.

The fixture ``tests/fixtures/albef/`` was written once by running ALBEF's code
(github.com/salesforce/ALBEF, commit b9727e4: ``models/model_retrieval.py``, ``models/xbert.py``,
``models/vit.py``, ``dataset/utils.py``) in a scratch environment outside this repository
(transformers 4.8.1 and timm 0.4.9 beside this venv's torch 2.11); no ALBEF code is committed.
The scratch script built ALBEF's ``ALBEF`` retrieval class with a tiny ViT (patch 8, width 32,
2 blocks, 2 heads, image_res 32) and a tiny BERT (``config_bert.json``: 4 layers, fusion_layer 2,
width 32), drew every weight at random (seed 1; LayerNorm gains and biases too), and saved:

- ``albef_tiny.pth``: ``{"model": state_dict, "config": run config, "epoch": 0}`` as ALBEF saves
  it, momentum copies and queues included;
- ``reference.pt``: the inputs (3 images, 3 captions with padding) and, as ALBEF's
  ``Retrieval.py::evaluation`` computes them, the ITC vectors, the image and text token states,
  and the ITM logits of all 9 (caption, image) pairs (``text_encoder(..., mode='fusion')`` then
  ``itm_head``);
- ``pre_caption.json``: ALBEF's ``pre_caption`` on tricky captions at max_words 30 and 5;
- ``albef_base_shapes.json`` and ``config_bert_base.json``: every key and shape of ALBEF's
  full-size retrieval model (its own ``configs/config_bert.json``, image_res 384, embed_dim 256),
  built on the meta device;
- ``test_transform.pt``: ALBEF's retrieval test transform (``dataset/__init__.py``
  ``create_dataset('re')``, ``re_eval_dataset``) at image_res 16 on every image fixture of
  ``encoder/src/test/resources/images``.

docs/model-import.md gives the steps to rebuild it.
"""

import json
from pathlib import Path

import pytest
import torch
from PIL import ExifTags, Image

from data import _ALPHA_MODES, _SIXTEEN_BIT_MODES, ImageTransform, pre_caption
from families.albef import AlbefConfig, AlbefInputs, AlbefRetrieval
from families.albef_checkpoint import IGNORED, albef_key, config_from_bert, load_albef, map_state_dict

FIXTURES = Path(__file__).parent / "fixtures" / "albef"
CHECKPOINT = FIXTURES / "albef_tiny.pth"
BERT_CONFIG = FIXTURES / "config_bert.json"


@pytest.fixture(scope="module")
def reference():
    return torch.load(FIXTURES / "reference.pt", weights_only=True)


def tiny_vision(reference) -> dict:
    return {key: value for key, value in reference["vision"].items() if key != "vision_width"}


def albef_state() -> dict:
    return torch.load(CHECKPOINT, weights_only=True)["model"]


def forward(model: AlbefRetrieval, reference) -> dict:
    with torch.no_grad():
        image_embed, image_feats = model.encode_image(reference["pixels"])
        text_embed, text_feats = model.encode_text(reference["ids"], reference["mask"])
        text, image = reference["itm_pairs"][:, 0], reference["itm_pairs"][:, 1]
        itm = model.itm_logits(text_feats[text], reference["mask"][text], image_feats[image])
    return {"image_embed": image_embed, "image_feats": image_feats, "text_embed": text_embed,
            "text_feats": text_feats, "itm_logits": itm}


def assert_matches_albef(model: AlbefRetrieval, reference):
    for name, ours in forward(model, reference).items():
        diff = (ours - reference[name]).abs().max().item()
        assert diff <= 1e-5, f"{name}: max abs diff {diff} from ALBEF's own forward"


def test_itc_vectors_and_itm_logits_match_albefs_own_forward(reference):
    model = load_albef(CHECKPOINT, BERT_CONFIG, **tiny_vision(reference))
    assert model.cfg.image_size == 32 and model.cfg.embed_dim == 16  # from the run config in the .pth
    assert_matches_albef(model, reference)
    # The fixture discriminates: the pairs' match logits differ by image.
    assert reference["itm_logits"][:, 1].std() > 0.5


def test_pretraining_key_form_loads_the_same(reference):
    """Pretraining checkpoints wrap BERT in BertForMaskedLM: ``text_encoder.bert.*`` plus an MLM
    head ``text_encoder.cls.*``, which retrieval does not read."""
    state = {key.replace("text_encoder.", "text_encoder.bert.", 1) if key.startswith("text_encoder.") else key: value
             for key, value in albef_state().items()}
    state["text_encoder.cls.predictions.bias"] = torch.zeros(100)
    model = AlbefRetrieval(config_from_bert(json.loads(BERT_CONFIG.read_text()), 32, 16, vision_width=32,
                                            **tiny_vision(reference)))
    model.load_state_dict(map_state_dict(state, model))
    assert_matches_albef(model.eval(), reference)


@pytest.fixture
def tiny_model(reference) -> AlbefRetrieval:
    return AlbefRetrieval(config_from_bert(json.loads(BERT_CONFIG.read_text()), 32, 16, vision_width=32,
                                           **tiny_vision(reference)))


def test_refuses_a_missing_key_naming_it(tiny_model):
    state = albef_state()
    del state["text_encoder.encoder.layer.3.crossattention.self.key.weight"]
    with pytest.raises(ValueError, match=r"missing keys \['text_encoder\.encoder\.layer\.3\.crossattention\.self\.key\.weight'\]"):
        map_state_dict(state, tiny_model)


def test_refuses_an_unexpected_key_naming_it(tiny_model):
    state = albef_state()
    state["text_encoder.pooler.dense.weight"] = torch.zeros(32, 32)
    with pytest.raises(ValueError, match=r"unexpected keys \['text_encoder\.pooler\.dense\.weight'\]"):
        map_state_dict(state, tiny_model)


def test_refuses_a_key_in_both_forms(tiny_model):
    state = albef_state()
    state["text_encoder.bert.embeddings.LayerNorm.bias"] = state["text_encoder.embeddings.LayerNorm.bias"]
    with pytest.raises(ValueError, match=r"\[text_encoder\.embeddings\.LayerNorm\.bias\] twice"):
        map_state_dict(state, tiny_model)


def test_refuses_another_image_size_naming_the_position_table(reference):
    with pytest.raises(ValueError, match=r"\[visual_encoder\.pos_embed\] has shape \[1, 17, 32\], the config builds "
                                         r"\[1, 65, 32\] \(the checkpoint was trained at another image_res"):
        load_albef(CHECKPOINT, BERT_CONFIG, image_size=64, **tiny_vision(reference))


def test_refuses_a_config_of_another_family(tmp_path, reference):
    bert = json.loads(BERT_CONFIG.read_text())
    del bert["fusion_layer"]
    other = tmp_path / "config.json"
    other.write_text(json.dumps(bert | {"model_type": "blip"}))
    with pytest.raises(ValueError, match=r"no \[fusion_layer\].*model_type \[blip\]"):
        load_albef(CHECKPOINT, other, **tiny_vision(reference))


def test_refuses_a_file_that_is_not_an_albef_checkpoint(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match=r"holds no \[model\] state dict"):
        load_albef(path, BERT_CONFIG)


def test_full_size_config_maps_every_key_and_shape_of_albefs_model():
    """ALBEF-base at 384² (its own config_bert.json): our model, built without memory on the meta
    device, maps onto exactly the keys and shapes ALBEF's code builds, apart from IGNORED."""
    cfg = config_from_bert(json.loads((FIXTURES / "config_bert_base.json").read_text()), 384, 256)
    assert cfg == AlbefConfig()
    with torch.device("meta"):
        model = AlbefRetrieval(cfg)
    albef = {key: shape for key, shape in json.loads((FIXTURES / "albef_base_shapes.json").read_text()).items()
             if not IGNORED.search(key)}
    ours = {albef_key(name, cfg.fusion_layer): list(value.shape) for name, value in model.state_dict().items()}
    assert ours == albef
    assert ours["visual_encoder.pos_embed"] == [1, 577, 768]


@pytest.mark.parametrize("case", json.loads((FIXTURES / "pre_caption.json").read_text()),
                         ids=lambda case: repr(case["caption"][:24]) + f"/{case['max_words']}")
def test_pre_caption_is_albefs(case):
    assert pre_caption(case["caption"], case["max_words"]) == case["albef"]


IMAGES = Path(__file__).parents[2] / "src" / "test" / "resources" / "images"


def departs_from_albef(path: Path) -> bool:
    """Where ``data.load_rgb`` decodes on purpose unlike ALBEF's ``Image.open(...).convert('RGB')``:
    it applies the EXIF orientation (ALBEF does not), composites alpha and transparency over white
    (ALBEF drops alpha), and keeps the high byte of 16-bit pixels (PIL's conversion clips them)."""
    with Image.open(path) as image:
        return (image.getexif().get(ExifTags.Base.Orientation, 1) != 1 or image.mode in _ALPHA_MODES
                or "transparency" in image.info or image.mode in _SIXTEEN_BIT_MODES)


def test_albef_test_transform_is_ours_with_albefs_inputs_except_the_documented_decoding():
    """ALBEF's own test transform (PIL bicubic resize to image_res, ToTensor, its mean and std)
    over every image fixture, against ``data.ImageTransform`` with ``AlbefInputs``: equal on every
    image but those ``departs_from_albef`` names, and different on all of those."""
    recorded = torch.load(FIXTURES / "test_transform.pt", weights_only=True)
    inputs = AlbefInputs()
    transform = ImageTransform(recorded["image_res"], inputs.mean, inputs.std, inputs.resize)
    assert sorted(recorded["tensors"]) == sorted(f["file"] for f in json.loads((IMAGES / "index.json").read_text())["fixtures"])
    differ, departing = set(), set()
    for name, albef in recorded["tensors"].items():
        if (transform(IMAGES / name) - albef).abs().max().item() > 1e-6:
            differ.add(name)
        if departs_from_albef(IMAGES / name):
            departing.add(name)
    assert differ == departing
    assert len(recorded["tensors"]) - len(departing) >= 25
