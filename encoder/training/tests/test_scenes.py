"""The scenes generator is deterministic, well-formed, and really compositional."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import scenes

SIZE = 64


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("scenes")
    return out, scenes.generate(out, n_train=40, n_val=10, n_test=30, seed=0, image_size=SIZE)


def load(out: Path, split: str, suffix: str = "") -> list[dict]:
    return json.loads((out / f"{split}{suffix}.json").read_text())


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path, generated):
    out, _ = generated
    again = tmp_path / "again"
    scenes.generate(again, n_train=40, n_val=10, n_test=30, seed=0, image_size=SIZE)
    for split in scenes.SPLITS:
        assert (again / f"{split}.json").read_bytes() == (out / f"{split}.json").read_bytes()
    for entry in load(out, "test")[:5]:
        assert (again / entry["image"]).read_bytes() == (out / entry["image"]).read_bytes()

    other = tmp_path / "other"
    scenes.generate(other, n_train=40, n_val=10, n_test=30, seed=1, image_size=SIZE)
    assert (other / "test.json").read_bytes() != (out / "test.json").read_bytes()


def test_test_split_does_not_depend_on_train_size(tmp_path, generated):
    out, _ = generated
    scenes.generate(tmp_path, n_train=5, n_val=10, n_test=30, seed=0, image_size=SIZE)
    assert (tmp_path / "test.json").read_bytes() == (out / "test.json").read_bytes()


def test_counts_and_karpathy_format(generated):
    out, stats = generated
    for split, n in (("train", 40), ("val", 10), ("test", 30)):
        entries = load(out, split)
        assert stats[split] == len(entries) == n
        for entry in entries:
            assert set(entry) == {"image", "caption"}
            assert entry["image"].startswith(f"images/{split}/")
            assert len(entry["caption"]) == 5 == len(set(entry["caption"]))
            assert all(isinstance(c, str) and c for c in entry["caption"])
        for entry in entries[:5]:
            with Image.open(out / entry["image"]) as image:
                assert image.mode == "RGB" and image.size == (SIZE, SIZE)
        # No two images of a split share a caption set.
        assert len({tuple(sorted(e["caption"])) for e in entries}) == n


def test_confuser_groups_share_attribute_words_but_not_captions(generated):
    out, stats = generated
    entries = load(out, "test")
    by_words: dict[tuple, list[dict]] = {}
    for entry in entries:
        by_words.setdefault(tuple(scenes.attribute_words(entry["caption"][0])), []).append(entry)
    confusable = [group for group in by_words.values() if len(group) > 1]
    assert confusable, "no pair of test images shares its bag of attribute words"
    for group in confusable:
        assert len({tuple(e["caption"]) for e in group}) == len(group)

    sidecar = load(out, "test", "_scenes")
    grouped = sum(s["group"] is not None for s in sidecar)
    assert grouped / len(sidecar) == pytest.approx(stats["test_confuser_fraction"])
    assert 0.5 <= stats["confuser_fraction"] <= 0.7


def test_every_multi_shape_caption_binds_colour_to_kind(generated):
    out, _ = generated
    for entry, scene in zip(load(out, "train"), load(out, "train", "_scenes")):
        for caption in entry["caption"]:
            for shape in scene["shapes"]:
                assert f"{shape['colour']} {shape['kind']}" in caption, (caption, shape)


def centroid(pixels: np.ndarray, colour: str) -> tuple[float, float]:
    ys, xs = np.nonzero(np.all(pixels == scenes.PALETTE[colour], axis=-1))
    assert len(xs) > 0, f"no {colour} pixels"
    return xs.mean(), ys.mean()


def test_drawn_relation_matches_the_caption(generated):
    out, _ = generated
    checked = 0
    for split in scenes.SPLITS:
        for scene in load(out, split, "_scenes"):
            if scene["relation"] is None:
                continue
            pixels = np.asarray(Image.open(out / scene["image"]).convert("RGB"))
            a, b = scene["shapes"][:2]
            (ax, ay), (bx, by) = centroid(pixels, a["colour"]), centroid(pixels, b["colour"])
            holds = {"left": ax < bx, "right": ax > bx, "above": ay < by, "below": ay > by}
            assert holds[scene["relation"]], scene
            # And the relation is read off the words: the canonical caption says left/above.
            words = scene["canonical"]
            first = words.index(f"{a['colour']} {a['kind']}")
            second = words.index(f"{b['colour']} {b['kind']}")
            subject_first = scene["relation"] in ("left", "above")
            assert (first < second) == subject_first, scene
            checked += 1
    assert checked >= 20


def test_a_single_shape_is_where_the_caption_says(tmp_path):
    """Only 1-shape scenes have an absolute position, and the shape is there."""
    out = tmp_path / "s"
    scenes.generate(out, n_train=60, n_val=0, n_test=0, seed=3, image_size=SIZE, confuser_fraction=0.0)
    placed = [s for s in load(out, "train", "_scenes") if s["position"] is not None]
    assert {len(s["shapes"]) for s in placed} == {1}
    for scene in placed:
        pixels = np.asarray(Image.open(out / scene["image"]).convert("RGB"))
        x, y = centroid(pixels, scene["shapes"][-1]["colour"])
        assert scene["canonical"].endswith(scenes.POSITION_PHRASES[scene["position"]][0]), scene
        expected = {"left": x < SIZE / 3, "right": x > 2 * SIZE / 3, "top": y < SIZE / 3,
                    "bottom": y > 2 * SIZE / 3,
                    "centre": abs(x - SIZE / 2) < SIZE / 6 and abs(y - SIZE / 2) < SIZE / 6}
        assert expected[scene["position"]], scene


def test_no_canonical_scene_is_in_two_splits(generated):
    out, _ = generated
    seen = Counter(s["canonical"] for split in scenes.SPLITS for s in load(out, split, "_scenes"))
    assert max(seen.values()) == 1
    train = {e["caption"][0] for e in load(out, "train")}
    assert train.isdisjoint(e["caption"][0] for e in load(out, "test"))


def test_bad_arguments_name_the_value(tmp_path):
    with pytest.raises(ValueError, match="-3"):
        scenes.generate(tmp_path, n_train=-3, n_val=0, n_test=0)
    with pytest.raises(ValueError, match="16"):
        scenes.generate(tmp_path, n_train=1, n_val=0, n_test=0, image_size=16)


def test_region_captions_state_true_positions(generated):
    out, _ = generated
    train, only, sidecar = load(out, "train"), load(out, "train_regions"), load(out, "train", "_scenes")
    by_image = {r["image"]: r["caption"] for r in only}
    assert set(by_image) <= {e["image"] for e in train} and len(by_image) == len(only)
    phrases = {p: band for band, ps in scenes.POSITION_PHRASES.items() for p in ps}
    added = 0
    for entry, scene in zip(train, sidecar):
        assert scene["image"] == entry["image"] and len(entry["caption"]) == 5
        pixels = np.asarray(Image.open(out / scene["image"]).convert("RGB"))
        for caption in by_image.get(entry["image"], []):
            assert caption not in entry["caption"]
            band = next(b for p, b in phrases.items() if p in caption)
            shape = next(s for s in scene["shapes"] if f"{s['colour']} {s['kind']}" in caption)
            x, y = centroid(pixels, shape["colour"])  # from the pixels, not the sidecar
            holds = {"left": x < SIZE / 3, "right": x > 2 * SIZE / 3, "top": y < SIZE / 3, "bottom": y > 2 * SIZE / 3}
            assert holds[band], (caption, x, y)
            added += 1
    assert added >= len(train)  # most shapes lie in some outer band


def test_relation_captions_state_the_true_relation_and_swap_to_their_mate(generated):
    from negatives import CaptionSwapper
    import data
    out, _ = generated
    train, sidecar = load(out, "train"), {s["image"]: s for s in load(out, "train", "_scenes")}
    relations = load(out, "train_relations")
    regions = {e["image"]: e["caption"] for e in load(out, "train_regions")}
    both = load(out, "train_relations_regions")
    by_image = {e["image"]: e["caption"] for e in relations}
    assert both == [{**e, "caption": by_image.get(e["image"], []) + regions.get(e["image"], [])} for e in train
                    if e["image"] in by_image or e["image"] in regions]
    assert [e["image"] for e in relations] == [e["image"] for e in train if sidecar[e["image"]]["relation"]]
    swapper = CaptionSwapper.load(out / "relation_swap_vocab.json")
    phrases = sorted(((p, rel) for rel, ps in scenes.INVERTIBLE_RELATION_PHRASES.items() for p in ps), key=lambda pr: -len(pr[0]))
    for entry in relations:
        scene = sidecar[entry["image"]]
        a, b = scene["shapes"][:2]
        assert len(entry["caption"]) == 2
        for caption in entry["caption"]:
            phrase, rel = next((p, r) for p, r in phrases if f" {p} a " in caption)
            first, second = caption.split(f" {phrase} a ")
            named = a if f"{a['colour']} {a['kind']}" in first else b
            other = b if named is a else a
            assert f"{other['colour']} {other['kind']}" in second
            # The relation the caption states holds between the two shapes' centres.
            holds = {"left": named["x"] < other["x"], "right": named["x"] > other["x"],
                     "above": named["y"] < other["y"], "below": named["y"] > other["y"]}
            assert holds[rel], (caption, named, other)
            # Its one swap inverts the relation word and nothing else: the relation mate's caption.
            (swap,) = swapper.candidates(data.pre_caption(caption))
            changed = [(w, v) for w, v in zip(data.pre_caption(caption).split(), swap.split()) if w != v]
            assert len(changed) == 1 and swapper.inverse[changed[0][0]] == changed[0][1]
