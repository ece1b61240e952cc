"""confuser_analysis: outcome attribution on hand-built scenes, and a run on the tiny model."""

import json

import pytest
import torch

import confuser_analysis as ca


def shape(kind, colour, x, size="small"):
    return {"kind": kind, "colour": colour, "size": size, "x": x, "y": 10}


# Image 0 and 1: same objects, arrangement reversed (relation mates). Image 2: the same words
# with the colours swapped (a binding mate of both). Image 3: ungrouped.
SCENES = [
    {"group": "g", "shapes": [shape("circle", "red", 5), shape("square", "blue", 20)]},
    {"group": "g", "shapes": [shape("circle", "red", 20), shape("square", "blue", 5)]},
    {"group": "g", "shapes": [shape("circle", "blue", 5), shape("square", "red", 20)]},
    {"group": None, "shapes": [shape("cross", "white", 12)]},
]


def test_mate_kinds_and_groups():
    assert ca.mate_kind(SCENES[0], SCENES[1]) == "relation"
    assert ca.mate_kind(SCENES[0], SCENES[2]) == "binding"
    assert ca.confuser_groups(SCENES) == {0: [0, 1, 2], 1: [0, 1, 2], 2: [0, 1, 2]}


def test_summary_attributes_each_top1_and_counts_pairwise_wins():
    txt2img = [0, 1, 2, 3]  # one caption per image
    itc = torch.tensor([
        [0.5, 0.9, 0.1, 0.0],  # caption of 0: ITC prefers its relation mate 1
        [0.2, 0.8, 0.9, 0.0],  # caption of 1: ITC prefers binding mate 2
        [0.1, 0.2, 0.3, 0.9],  # caption of 2: ITC prefers the ungrouped image 3
        [0.0, 0.0, 0.0, 1.0],  # caption of 3: correct
    ])
    itm_top1 = [0, 1, 3, 3]  # ITM fixes captions 0 and 1, not 2
    pair_itm = {(0, 0): 2.0, (0, 1): 1.0, (0, 2): 3.0,   # caption 0: beats mate 1, loses to mate 2
                (1, 0): 0.0, (1, 1): 1.0, (1, 2): 0.5,   # caption 1: beats both
                (2, 0): 0.0, (2, 1): 0.0, (2, 2): 0.0}   # caption 2: ties never win
    s = ca.summarise(itc, itm_top1, pair_itm, txt2img, SCENES)
    assert s["top1"]["ITC"] == {"correct": 25.0, "relation mate": 25.0, "binding mate": 25.0, "other": 25.0}
    assert s["top1"]["ITM"] == {"correct": 75.0, "relation mate": 0.0, "binding mate": 0.0, "other": 25.0}
    # Relation pairs (caption vs mate): 0 vs 1 (ITC loses 0.5 < 0.9), 1 vs 0 (wins); ITM wins both.
    # Binding pairs: 0 vs 2, 1 vs 2, 2 vs 0, 2 vs 1: ITC wins all but 1 vs 2 (0.8 < 0.9); ITM only 1 vs 2.
    assert s["pairwise"]["relation"] == {"pairs": 2, "ITC": 50.0, "ITM": 100.0}
    assert s["pairwise"]["binding"] == {"pairs": 4, "ITC": 75.0, "ITM": 25.0}


def test_runs_on_a_trained_checkpoint(tiny_run, scenes_dir, tmp_path):
    out = tmp_path / "analysis.json"
    report = ca.main(["--checkpoint", str(tiny_run / "checkpoint_best.pt"), "--ann", str(scenes_dir / "test.json"),
                      "--image-root", str(scenes_dir), "--k", "4", "--threads", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == report
    for shares in report["top1"].values():
        assert sum(shares.values()) == pytest.approx(100.0, abs=0.05)
    assert report["captions"] == 12 * 5 and set(report["pairwise"]) <= {"relation", "binding"}


def test_a_sidecar_of_another_split_is_refused(tiny_run, scenes_dir):
    with pytest.raises(ValueError, match=r"describes 48 images but .*test.json has 12"):
        ca.analyse(tiny_run / "checkpoint_best.pt", scenes_dir / "test.json", scenes_dir, 4, scenes_dir / "train_scenes.json")
