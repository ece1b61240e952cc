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


def test_unknown_task_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown task \[count\]; valid tasks: \['present', 'xpos', 'compare', 'relation'\]"):
        toy.train("count", layers=1, steps=1)
