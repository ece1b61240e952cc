"""blend_weight: the choice of the ITC weight on hand-built rows, and a run on the tiny model."""

import json

import pytest

import blend_weight
from evaluation import blend_row


def row(img_r1, r_mean=50.0):
    return {"img_r1": img_r1, "r_mean": r_mean}


def test_chooses_the_best_ir_r1_then_mean_recall_then_the_smaller_weight():
    rows = {blend_row(16, 0): row(60), blend_row(16, 1): row(70), blend_row(16, 4): row(70, 55), blend_row(16, 8): row(70, 55)}
    assert blend_weight.choose_weight(rows, 16, [0, 1, 4, 8]) == 4
    assert blend_weight.choose_weight(rows, 16, [0, 1]) == 1


def test_runs_on_a_trained_checkpoint(tiny_run, scenes_dir, tmp_path):
    out = tmp_path / "blend.json"
    report = blend_weight.main(["--checkpoint", str(tiny_run / "checkpoint_best.pt"), "--val-ann", str(scenes_dir / "val.json"),
                                "--test-ann", str(scenes_dir / "test.json"), "--image-root", str(scenes_dir), "--k", "4",
                                "--weights", "0", "2", "64", "--threads", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert set(report["val_ir_r1"]) == {"ITC", "ITC+ITM k=4", blend_row(4, 0), blend_row(4, 2), blend_row(4, 64)}
    # Weight 0 is ITM alone, so its row equals the plain rerank's.
    assert report["val_ir_r1"][blend_row(4, 0)] == report["val_ir_r1"]["ITC+ITM k=4"]
    w = report["chosen_itc_weight"][4]
    assert w in (0, 2, 64) and report["plugin"][4] == {"window_size": 4, "score_mode": "itm_plus_itc", "itc_weight": w}
    assert set(report["test"]) == {"ITC", "ITC+ITM k=4", blend_row(4, 1.0), blend_row(4, w)}


def test_refuses_negative_weights(tiny_run, scenes_dir):
    with pytest.raises(ValueError, match=r"\[-1.0\]"):
        blend_weight.main(["--checkpoint", str(tiny_run / "checkpoint_best.pt"), "--val-ann", str(scenes_dir / "val.json"),
                           "--test-ann", str(scenes_dir / "test.json"), "--image-root", str(scenes_dir), "--weights", "-1"])
