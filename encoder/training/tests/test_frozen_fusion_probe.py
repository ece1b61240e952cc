"""The frozen-feature probe builds shortcut-free caption pairs and trains only the fusion side."""

import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import frozen_fusion_probe as probe  # noqa: E402


def test_pairs_are_one_word_band_flips_and_object_exchanges():
    scene = {"relation": "left", "shapes": [
        {"kind": "square", "colour": "red", "size": "large", "x": 10, "y": 30},
        {"kind": "circle", "colour": "blue", "size": "small", "x": 50, "y": 60}]}
    pos, rel = probe.pair_tasks([scene], 64, random.Random(0))
    assert (0, "a large red square on the left", "a large red square on the right") in pos
    assert (0, "a small blue circle on the right", "a small blue circle on the left") in pos
    assert (0, "a small blue circle at the bottom", "a small blue circle at the top") in pos
    assert len(pos) == 3  # the square's y is in the middle third: no vertical band
    assert len(rel) == 2
    for _, true, edited in rel:
        assert sorted(true.split()) == sorted(edited.split()) and true != edited
    assert rel[0][1].startswith("a large red square") and rel[1][1].startswith("a small blue circle")


def test_probe_trains_the_fusion_encoder_on_frozen_features(tiny_run, scenes_dir):
    checkpoint = tiny_run / "checkpoint_last.pt"
    result = probe.main(["--checkpoint", str(checkpoint), "--data", str(scenes_dir), "--steps", "4",
                         "--pos-steps", "2", "--batch-size", "8", "--eval-every", "2", "--threads", "1",
                         "--reset-fusion", "--position-codes"])
    assert [h["step"] for h in result["history"]] == [0, 2, 4]
    assert all(0 <= h["pos"] <= 100 and 0 <= h["rel"] <= 100 for h in result["history"])
    assert set(result["position_r2"]) == {"column", "row"} and all(v <= 1 for v in result["position_r2"].values())
