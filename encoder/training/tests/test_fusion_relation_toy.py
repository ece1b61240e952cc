"""The fusion toy trains the real FusionEncoder: a one-lookup task must be learnt quickly."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import fusion_relation_toy as toy  # noqa: E402


@pytest.mark.parametrize("image_layers", [0, 1])
def test_the_fusion_encoder_learns_a_lookup_within_300_steps(image_layers):
    history = toy.train("present", layers=2, steps=300, batch=128, log_every=100, image_layers=image_layers)
    assert [h[0] for h in history] == [100, 200, 300]
    assert history[-1][2] > 0.9, history


def test_labels_follow_the_task():
    import torch

    ids, image, label = toy.make_batch("compare", 64, torch.Generator().manual_seed(0))
    assert ids.shape == (64, 5) and image.shape == (64, toy.TOKENS, toy.COLOURS + 2)
    # Recompute "colour_a left of colour_b" from the image tokens themselves.
    for row in range(64):
        x = {int(t[: toy.COLOURS].argmax()): float(t[toy.COLOURS]) for t in image[row] if t[toy.COLOURS + 1] == 1}
        assert bool(label[row]) == (x[int(ids[row, 1])] < x[int(ids[row, 3])])


def test_side_labels_say_whether_the_word_matches_the_half():
    import torch

    ids, image, label = toy.make_batch("side", 64, torch.Generator().manual_seed(0))
    assert (ids[:, 3] == toy.SEP).all() and (ids[:, 4] == toy.PAD).all()
    assert set(ids[:, 2].tolist()) == {toy.LEFT, toy.RIGHT}
    for row in range(64):
        x = {int(t[: toy.COLOURS].argmax()): float(t[toy.COLOURS]) for t in image[row] if t[toy.COLOURS + 1] == 1}
        says_left = int(ids[row, 2]) == toy.LEFT
        assert bool(label[row]) == ((x[int(ids[row, 1])] < 0.5) == says_left)


def test_helper_task_and_causal_fusion_run():
    history = toy.train("compare", layers=1, steps=4, batch=8, log_every=2, helper_task="xpos", helper_steps=2,
                        helper_fraction=0.5, fusion_attention="causal", x_scale=5.0, eval_size=16)
    assert [h[0] for h in history] == [2, 4]


def test_unknown_task_lists_the_valid_ones():
    valid = r"\['present', 'xpos', 'side', 'compare', 'relation'\]"
    with pytest.raises(ValueError, match=rf"unknown task \[count\]; valid tasks: {valid}"):
        toy.train("count", layers=1, steps=1)
    with pytest.raises(ValueError, match=rf"unknown task \[count\]; valid tasks: {valid}"):
        toy.train("compare", layers=1, steps=1, helper_task="count")
    with pytest.raises(ValueError, match=r"helper_fraction must be in \[0, 1\), got 1.0"):
        toy.train("compare", layers=1, steps=1, helper_fraction=1.0)
