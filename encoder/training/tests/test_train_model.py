"""scripts/train-model end to end on a small generated collection with two bad images: a bundle,
the splits, the skipped-images list and the test table, without a manual step."""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import train_model
from make_image_fixtures import header_only_png

ROOT = Path(__file__).resolve().parents[3]
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30)}
SHAPES = ("square", "stripe", "dot")


def make_collection(root: Path, count: int = 44) -> Path:
    """``count`` small PNGs (a coloured shape on grey), two captions each, plus a PNG whose header
    declares 7000 x 7000 pixels (over the limit) and a truncated PNG: the Karpathy file lists all."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    entries = []
    for i in range(count):
        colour, shape = list(COLOURS)[i % 4], SHAPES[(i // 4) % 3]
        pixels = np.full((40, 48, 3), 128, dtype=np.uint8) + rng.integers(0, 8, (40, 48, 3), dtype=np.uint8)
        x, y = 4 + (i * 7) % 30, 4 + (i * 5) % 20
        if shape == "square":
            pixels[y : y + 14, x : x + 14] = COLOURS[colour]
        elif shape == "stripe":
            pixels[y : y + 4, :] = COLOURS[colour]
        else:
            pixels[y : y + 5, x : x + 5] = COLOURS[colour]
        Image.fromarray(pixels).save(root / "images" / f"{i:03d}.png")
        entries.append({"image": f"images/{i:03d}.png", "caption": [f"a {colour} {shape}", f"{shape} in {colour} number {i}"]})
    (root / "images" / "huge.png").write_bytes(header_only_png(7000, 7000))
    whole = (root / "images" / "000.png").read_bytes()
    (root / "images" / "broken.png").write_bytes(whole[: len(whole) // 2])
    entries.insert(5, {"image": "images/huge.png", "caption": "a huge poster"})
    entries.insert(9, {"image": "images/broken.png", "caption": ["a broken file"]})
    (root / "train.json").write_text(json.dumps(entries), encoding="utf-8")
    return root / "train.json"


def train(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "scripts" / "train-model"), "--ann", str(tmp_path / "data" / "train.json"),
         "--image-root", str(tmp_path / "data"), "--out", str(tmp_path / "models" / "mine"), "--preset", "tiny",
         "--epochs", "2", "--batch-size", "8", "--warmup-steps", "2", "--vocab-size", "120", "--threads", "1", *extra],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONHASHSEED": "0"},
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("byo")
    make_collection(tmp_path / "data")
    result = train(tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    return tmp_path, result


def test_the_bundle_is_complete_and_checksummed_as_modelbundle_requires(trained):
    tmp_path, _ = trained
    bundle = tmp_path / "models" / "mine"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["name"] == "mine"
    assert {g["file"] for g in manifest["graphs"].values()} == {"image_encoder.onnx", "text_encoder.onnx", "fusion_itm.onnx"}
    assert {"tokenizer.json", "image_encoder.onnx", "text_encoder.onnx", "fusion_itm.onnx"} <= set(manifest["files"])
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == entry["sha256"], name
    assert manifest["rerank"]["chosen_by"].startswith("blend_weight.py")
    assert max(manifest["export_check"]["max_abs_diff_vs_pytorch"].values()) < 1e-4


@pytest.mark.skipif(not list((ROOT / "index-tools" / "target").glob("fuserank-index-tools-*.jar")),
                    reason="the CLI is not built (mvn package): the Java ModelBundle check needs it")
def test_the_java_side_loads_the_bundle_and_refuses_the_images_training_skipped(trained):
    tmp_path, _ = trained
    images = tmp_path / "data" / "images"
    result = subprocess.run(
        [str(ROOT / "bin" / "fuserank"), "encode", "--model", str(tmp_path / "models" / "mine"), "--batch-size", "1",
         "--images", str(images / "001.png"), str(images / "huge.png"), str(images / "broken.png")],
        capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1 and len(lines) == 3, result.stderr[-2000:]
    assert len(lines[0]["embedding"]) == json.loads((tmp_path / "models" / "mine" / "manifest.json").read_text())["embedding"]["dim"]
    skipped = {line.split("\t")[1]: line.split("\t")[2] for line in
               (tmp_path / "models" / "mine.train" / "skipped-images.tsv").read_text().splitlines()[1:]}
    # The same limit, and the same words, on both sides.
    assert "TOO_MANY_PIXELS: " + lines[1]["error"] == skipped["images/huge.png"]
    assert "error" in lines[2] and skipped["images/broken.png"].startswith("CORRUPT")


def test_the_bad_images_are_skipped_with_their_reasons_and_counted(trained):
    tmp_path, result = trained
    work = tmp_path / "models" / "mine.train"
    rows = [line.split("\t") for line in (work / "skipped-images.tsv").read_text().splitlines()[1:]]
    reasons = {image: reason.split(":")[0] for _, image, reason in rows}
    assert reasons == {"images/huge.png": "TOO_MANY_PIXELS", "images/broken.png": "CORRUPT"}
    assert "skipped 2" in result.stdout
    assert "DecompressionBombError" not in result.stderr


def test_val_and_test_are_carved_by_whole_images(trained):
    tmp_path, _ = trained
    work = tmp_path / "models" / "mine.train"
    splits = {name: json.loads((work / f"{name}.json").read_text()) for name in ("train", "val", "test")}
    images = {name: [e["image"] for e in entries] for name, entries in splits.items()}
    assert [len(images[n]) for n in ("train", "val", "test")] == [36, 4, 4]  # 44 good images, 10% held out twice
    assert len(set(sum(images.values(), []))) == 44
    assert all(len(e["caption"]) == 2 for entries in splits.values() for e in entries)
    assert json.loads((work / "splits.json").read_text())["carved_from_ann"] == ["test", "val"]
    assert (work / "checkpoint.pt").is_file()


def test_prints_the_test_table_with_itc_and_reranked_rows(trained):
    _, result = trained
    table = result.stdout[result.stdout.index("setting"):].splitlines()
    assert table[0].split()[:8] == ["setting", "TR", "R@1", "TR", "R@5", "TR", "R@10", "IR"]
    rows = [line.split("  ")[0].strip() for line in table[2:]]
    assert rows[0] == "ITC" and "ITC+ITM k=16" in rows and any("·ITC" in row for row in rows)


def test_a_git_tracked_out_is_refused_without_force(tmp_path):
    result = subprocess.run([str(ROOT / "scripts" / "train-model"), "--ann", "x.json", "--image-root", ".",
                             "--out", str(ROOT / "models" / "fuserank-small")], capture_output=True, text=True)
    assert result.returncode != 0 and "tracked by git" in result.stderr and "--force" in result.stderr


def test_the_split_is_seeded_and_never_shares_an_image():
    entries = [{"image": f"{i}.png", "caption": ["c"]} for i in range(30)]
    first = train_model.split_by_image(entries, ["test", "val"], seed=7)
    assert first == train_model.split_by_image(entries, ["test", "val"], seed=7)
    assert first != train_model.split_by_image(entries, ["test", "val"], seed=8)
    names = [e["image"] for part in first.values() for e in part]
    assert sorted(names) == sorted(e["image"] for e in entries)
    assert [len(first[n]) for n in ("train", "val", "test")] == [24, 3, 3]


def test_entries_of_one_image_are_merged_before_splitting():
    merged = train_model.merge_by_image([{"image": "a", "caption": ["x"]}, {"image": "b", "caption": ["y"]},
                                         {"image": "a", "caption": ["z"]}])
    assert merged == [{"image": "a", "caption": ["x", "z"]}, {"image": "b", "caption": ["y"]}]


def test_a_held_out_file_sharing_an_image_with_train_is_an_error(tmp_path):
    make_collection(tmp_path / "data", count=12)
    (tmp_path / "data" / "val.json").write_text(json.dumps([{"image": "images/003.png", "caption": "c"}]))
    result = train(tmp_path, "--val-ann", str(tmp_path / "data" / "val.json"))
    assert result.returncode == 2
    assert "image [images/003.png] is in both the train and the val annotations" in result.stderr


def test_a_malformed_entry_is_named(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.json").write_text(json.dumps([{"image": "a.png", "caption": "c"}, {"image": "b.png"}]))
    result = train(tmp_path)
    assert result.returncode == 2 and "entry [1]" in result.stderr


def test_init_fine_tunes_the_checkpoint_with_its_tokenizer(trained):
    tmp_path, _ = trained
    source = tmp_path / "models" / "mine.train"
    result = subprocess.run(
        [str(ROOT / "scripts" / "train-model"), "--ann", str(source / "train.json"), "--val-ann", str(source / "val.json"),
         "--test-ann", str(source / "test.json"), "--image-root", str(tmp_path / "data"),
         "--out", str(tmp_path / "models" / "tuned"), "--init", str(source / "checkpoint.pt"),
         "--epochs", "1", "--batch-size", "8", "--warmup-steps", "1", "--threads", "1"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    run = tmp_path / "models" / "tuned.train" / "run"
    start = json.loads((run / "log.jsonl").read_text().splitlines()[0])
    assert start["mode"] == "finetune"
    assert (tmp_path / "models" / "tuned" / "tokenizer.json").read_text() == (tmp_path / "models" / "mine" / "tokenizer.json").read_text()
    assert json.loads((tmp_path / "models" / "tuned.train" / "splits.json").read_text())["carved_from_ann"] == []
