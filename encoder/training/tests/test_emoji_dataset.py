"""The emoji builder joins, captions and splits correctly, checked on a tiny fake node_modules."""

import json
from pathlib import Path

import pytest
from PIL import Image

import emoji_dataset as emoji

TRAIN_STYLES = ("apple", "google", "facebook")


def _entry(name, unified, short_names, subcategory="animal-marine",
           category="Animals & Nature", **extra):
    entry = {"name": name, "unified": unified, "image": f"{unified.lower()}.png",
             "short_names": short_names, "category": category, "subcategory": subcategory,
             **{f"has_img_{s}": True for s in emoji.STYLES}}
    entry.update(extra)
    return entry


ENTRIES = [
    _entry("OCTOPUS", "1F419", ["octopus"]),
    # emoji-datasource keeps FE0F where emojibase drops it.
    _entry("COPYRIGHT SIGN", "00A9-FE0F", ["copyright"], subcategory="other-symbol",
           category="Symbols"),
    _entry("WAVING HAND SIGN", "1F44B", ["wave"], subcategory="hand-fingers-open",
           category="People & Body",
           skin_variations={"1F3FB": {"unified": "1F44B-1F3FB", "image": "1f44b-1f3fb.png",
                                      **{f"has_img_{s}": True for s in emoji.STYLES}}}),
    # Facebook has no drawing, and Apple claims one that is not on disk.
    _entry("NERD FACE", "1F913", ["nerd_face"], subcategory="face-glasses",
           category="Smileys & Emotion", has_img_facebook=False),
    # No emojibase entry: captions come from emoji-datasource alone.
    _entry("MYSTERY THING", "1FAFF", ["mystery_thing"], subcategory="", category="Objects"),
    # Two concepts share the caption "mouse", which must go from both.
    _entry("MOUSE FACE", "1F42D", ["mouse"], subcategory="animal-mammal"),
    _entry("MOUSE", "1F401", ["mouse2"], subcategory="animal-mammal"),
    *(_entry(f"THING {i}", f"F{i:04X}", [f"thing_{i}"], subcategory="filler", category="Filler")
      for i in range(20)),
]
BASE = [
    {"label": "octopus", "hexcode": "1F419", "tags": ["creature", "ocean"]},
    {"label": "copyright", "hexcode": "00A9", "tags": ["c"]},
    {"label": "waving hand", "hexcode": "1F44B", "tags": ["hand", "wave"],
     "skins": [{"label": "waving hand: light skin tone", "hexcode": "1F44B-1F3FB"}]},
    {"label": "nerd face", "hexcode": "1F913", "tags": ["brainy", "geek"]},
    {"label": "mouse face", "hexcode": "1F42D", "tags": ["face", "mouse"]},
    {"label": "mouse", "hexcode": "1F401", "tags": ["animal"]},
    *({"label": f"thing {i}", "hexcode": f"F{i:04X}", "tags": []} for i in range(20)),
]


def make_tree(root: Path, duplicate_twitter: bool = False) -> Path:
    """A fake ``npm --prefix`` directory mirroring the real packages' layout."""
    modules = root / "node_modules"
    for s_index, style in enumerate(emoji.STYLES):
        package = modules / f"emoji-datasource-{style}"
        image_dir = package / "img" / style / "64"
        image_dir.mkdir(parents=True)
        (package / "emoji.json").write_text(json.dumps(ENTRIES))
        version = {"version": emoji.EMOJI_DATASOURCE_VERSION}
        (package / "package.json").write_text(json.dumps(version))
        for e_index, entry in enumerate(ENTRIES):
            skins = entry.get("skin_variations", {}).values()
            files = [entry["image"], *(v["image"] for v in skins)]
            if entry["name"] == "NERD FACE" and style in ("apple", "facebook"):
                files = files[1:]
            for f_index, name in enumerate(files):
                colour = (s_index * 60, e_index * 9, f_index * 100, 255)
                if duplicate_twitter and style == "twitter" and entry["name"] == "MOUSE":
                    colour = (s_index * 60, 5 * 9, 0, 255)  # identical to MOUSE FACE
                Image.new("RGBA", (64, 64), colour).save(image_dir / name)
    base = modules / "emojibase-data"
    (base / "en").mkdir(parents=True)
    (base / "en" / "data.json").write_text(json.dumps(BASE))
    (base / "package.json").write_text(json.dumps({"version": emoji.EMOJIBASE_DATA_VERSION}))
    return root


@pytest.fixture
def built(tmp_path):
    npm_dir = make_tree(tmp_path / "npm")
    out = tmp_path / "out"
    stats = emoji.build(npm_dir, out, val_fraction=0.2, seed=0)
    splits = {s: json.loads((out / f"{s}.json").read_text()) for s in ("train", "val", "test")}
    return npm_dir, out, stats, splits


def by_image(entries):
    return {e["image"]: e["caption"] for e in entries}


def concept(path: str) -> str:
    return Path(path).stem.upper()


def test_captions_join_emojibase_and_datasource(built):
    _, _, stats, splits = built
    everything = {**by_image(splits["train"]), **by_image(splits["val"]),
                  **by_image(splits["test"])}
    octopus = everything["emoji-datasource-twitter/img/twitter/64/1f419.png"]
    assert octopus == ["octopus", "an emoji of octopus", "octopus: creature, ocean",
                       "animal marine: octopus", "animals & nature: octopus"]
    copyright_ = everything["emoji-datasource-twitter/img/twitter/64/00a9-fe0f.png"]
    assert "copyright: c" in copyright_  # joined although emojibase has no FE0F
    mystery = everything["emoji-datasource-twitter/img/twitter/64/1faff.png"]
    assert mystery == ["mystery thing", "an emoji of mystery thing", "objects: mystery thing"]
    assert stats["joined_emojibase"] == len(ENTRIES) - 1
    for caps in everything.values():
        assert 0 < len(caps) <= 5 and len(set(caps)) == len(caps) and all(caps)


def test_captions_shared_by_two_concepts_are_dropped(built):
    _, _, stats, splits = built
    test = by_image(splits["test"])
    assert "mouse" not in test["emoji-datasource-twitter/img/twitter/64/1f42d.png"]
    assert "mouse" not in test["emoji-datasource-twitter/img/twitter/64/1f401.png"]
    assert stats["ambiguous_captions_dropped"] == 2


def test_styles_split_and_val_concepts_are_held_out_of_train(built):
    npm_dir, out, stats, splits = built
    assert all(e["image"].split("/")[0] in {f"emoji-datasource-{s}" for s in TRAIN_STYLES}
               for e in splits["train"] + splits["val"])
    assert all(e["image"].startswith("emoji-datasource-twitter/img/twitter/64/")
               for e in splits["test"])
    train_concepts = {concept(e["image"]) for e in splits["train"]}
    val_concepts = {concept(e["image"]) for e in splits["val"]}
    assert len(val_concepts) == len(splits["val"]) == stats["val_concepts"] == round(0.2 * 27)
    assert train_concepts.isdisjoint(val_concepts)
    assert len(splits["test"]) == len(ENTRIES)
    root = Path((out / "image_root.txt").read_text().strip())
    assert root == (npm_dir / "node_modules").resolve()
    for entry in splits["train"] + splits["val"] + splits["test"]:
        assert (root / entry["image"]).is_file()


def test_skin_variations_and_missing_images_are_skipped(built):
    _, _, stats, splits = built
    paths = [e["image"] for split in splits.values() for e in split]
    assert not any("1f3fb" in p for p in paths)
    nerd = {p.split("/")[0] for p in paths if p.endswith("/1f913.png")}
    # Whether nerd face landed in train or val, only Google (of the train styles) can draw it.
    assert nerd == {"emoji-datasource-google", "emoji-datasource-twitter"}
    assert stats["apple_missing_image"] == 1 and stats["facebook_missing_image"] == 1
    assert stats["skin_variations_skipped"] == 1


def test_byte_identical_images_in_a_style_are_kept_once(tmp_path):
    npm_dir = make_tree(tmp_path / "npm", duplicate_twitter=True)
    stats = emoji.build(npm_dir, tmp_path / "out", val_fraction=0.2)
    test = json.loads((tmp_path / "out" / "test.json").read_text())
    assert len(test) == len(ENTRIES) - 1 and stats["twitter_duplicate_image"] == 1


def test_build_is_deterministic_by_seed(tmp_path):
    npm_dir = make_tree(tmp_path / "npm")
    outs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        emoji.build(npm_dir, tmp_path / name, val_fraction=0.2, seed=seed)
        outs[name] = {s: (tmp_path / name / f"{s}.json").read_bytes() for s in ("train", "val")}
    assert outs["a"] == outs["b"]
    assert outs["a"] != outs["c"]


def test_install_is_skipped_when_pinned_versions_are_present(tmp_path, monkeypatch):
    npm_dir = make_tree(tmp_path / "npm")
    monkeypatch.setattr(emoji.shutil, "which", lambda _: pytest.fail("npm should not run"))
    assert emoji.install_packages(npm_dir) is False


def test_bad_styles_are_named(tmp_path):
    npm_dir = make_tree(tmp_path / "npm")
    with pytest.raises(ValueError, match="'windows'"):
        emoji.build(npm_dir, tmp_path / "out", train_styles=("apple", "windows"))
    with pytest.raises(ValueError, match="'twitter'"):
        emoji.build(npm_dir, tmp_path / "out", train_styles=("twitter",))
