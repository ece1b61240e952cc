import json
import random

import pytest

import scenes
from negatives import CaptionSwapper


@pytest.fixture
def swapper():
    return CaptionSwapper(**scenes.swap_vocab())


def test_exchanges_the_first_two_different_words_of_a_class(swapper):
    caption = "a large red circle to the left of a small blue square"
    options = swapper.candidates(caption)
    assert "a large blue circle to the left of a small red square" in options
    assert "a large red square to the left of a small blue circle" in options
    assert "a large red circle to the right of a small blue square" in options
    assert len(options) == 3


def test_never_returns_the_caption_itself_or_a_word_outside_the_vocabulary(swapper):
    vocab_words = set(scenes.COLOURS) | set(scenes.KINDS) | set(swapper.inverse.values())
    caption = "a red circle beneath a red square"  # same colours, no invertible relation word
    for option in swapper.candidates(caption):
        assert option != caption
        new_words = set(option.split()) - set(caption.split())
        assert new_words <= vocab_words
    assert swapper.candidates(caption) == ["a red square beneath a red circle"]


def test_a_caption_with_nothing_to_swap_gives_none(swapper):
    assert swapper.swap("a photo of a dog", random.Random(0)) is None


def test_every_multi_shape_training_caption_has_a_swap(tmp_path):
    scenes.generate(tmp_path, n_train=40, n_val=0, n_test=0, seed=3)
    swapper = CaptionSwapper.load(tmp_path / "swap_vocab.json")
    entries = json.loads((tmp_path / "train.json").read_text())
    sidecar = json.loads((tmp_path / "train_scenes.json").read_text())
    import data
    for entry, scene in zip(entries, sidecar):
        for caption in entry["caption"]:
            if len(scene["shapes"]) > 1:
                assert swapper.swap(data.pre_caption(caption), random.Random(0)) is not None, caption


def test_bad_vocabularies_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\['red', 'red'\]"):
        CaptionSwapper([["red", "red"]], {})
    with pytest.raises(ValueError, match=r"\[left\]"):
        CaptionSwapper([], {"left": "left"})
    path = tmp_path / "v.json"
    path.write_text('{"exchange": [], "swap": {}}')
    with pytest.raises(ValueError, match="unknown keys \\['swap'\\]"):
        CaptionSwapper.load(path)
