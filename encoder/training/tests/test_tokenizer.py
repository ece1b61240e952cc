"""The WordPiece tokenizer: fixed special ids, truncation/padding, the Java parity fixture."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data import pre_caption
from tokenizer import SPECIAL_TOKENS, TextTokenizer, train_wordpiece, write_fixture

TRAINING_DIR = Path(__file__).resolve().parents[1]

CAPTIONS = [
    "a red circle to the left of a blue square",
    "a blue square above a green triangle",
    "two red circles and one green triangle",
    "the green triangle is below the red circle",
    "a large blue square next to a small red circle",
    "a small green square left of a large red triangle",
] * 3


@pytest.fixture(scope="module")
def tokenizer_path(tmp_path_factory):
    return train_wordpiece(CAPTIONS, tmp_path_factory.mktemp("tok") / "tokenizer.json", vocab_size=200)


@pytest.fixture(scope="module")
def tok(tokenizer_path):
    return TextTokenizer(tokenizer_path, max_tokens=8)


def test_special_token_ids_are_fixed(tok):
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)


def test_file_stores_no_padding_or_truncation(tokenizer_path):
    saved = json.loads(tokenizer_path.read_text())
    assert saved["padding"] is None and saved["truncation"] is None
    assert [t["content"] for t in saved["added_tokens"]] == list(SPECIAL_TOKENS)


def test_round_trip(tokenizer_path):
    tok = TextTokenizer(tokenizer_path, max_tokens=32)
    ids = tok.encode("A red circle left of a blue square")
    assert ids[0] == tok.cls_id and ids[-1] == tok.sep_id
    assert tok.unk_id not in ids
    decoded = tok._tokenizer.decode(ids)
    assert decoded == "a red circle left of a blue square"


def test_truncation_keeps_sep_last(tok):
    ids = tok.encode(" ".join(CAPTIONS[:3]))
    assert len(ids) == tok.max_tokens == 8
    assert ids[0] == tok.cls_id and ids[-1] == tok.sep_id
    batch, mask = tok.encode_batch([" ".join(CAPTIONS)])
    assert batch.shape == (1, 8) and batch[0, -1].item() == tok.sep_id and mask.all()


def test_padding_and_mask(tok):
    ids, mask = tok.encode_batch(["red circle", "a blue square above", ""])
    assert ids.dtype == torch.long and mask.dtype == torch.long
    lengths = [len(tok.encode(t)) for t in ["red circle", "a blue square above", ""]]
    assert ids.shape == (3, max(lengths))
    for row, n in enumerate(lengths):
        assert ids[row, :n].tolist() == tok.encode(["red circle", "a blue square above", ""][row])
        assert (ids[row, n:] == tok.pad_id).all()
        assert mask[row].tolist() == [1] * n + [0] * (ids.shape[1] - n)


def test_empty_string_is_cls_sep(tok):
    assert tok.encode("") == [tok.cls_id, tok.sep_id]


def test_unknown_characters_become_unk(tok):
    ids = tok.encode("red ☃")
    assert ids == [tok.cls_id, tok.encode("red")[1], tok.unk_id, tok.sep_id]


def test_missing_mask_token_names_the_file(tokenizer_path, tmp_path):
    saved = json.loads(tokenizer_path.read_text())
    saved["added_tokens"] = [t for t in saved["added_tokens"] if t["content"] != "[MASK]"]
    del saved["model"]["vocab"]["[MASK]"]
    broken = tmp_path / "no-mask-tokenizer.json"
    broken.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r"no-mask-tokenizer\.json.*\[MASK\]"):
        TextTokenizer(broken, max_tokens=8)


def test_accepts_bert_style_ids_by_name(tokenizer_path, tmp_path):
    # A BERT-like vocabulary where the special tokens are not at 0..4 still works.
    saved = json.loads(tokenizer_path.read_text())
    vocab = saved["model"]["vocab"]
    shifted = {token: (i + 100 if token in SPECIAL_TOKENS[1:] else i) for token, i in vocab.items()}
    saved["model"]["vocab"] = shifted
    for t in saved["added_tokens"]:
        t["id"] = shifted[t["content"]]
    for name, spec in saved["post_processor"]["special_tokens"].items():
        spec["ids"] = [shifted[name]]
    path = tmp_path / "bert-like.json"
    path.write_text(json.dumps(saved))
    tok = TextTokenizer(path, max_tokens=8)
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 101, 102, 103, 104)
    assert tok.encode("") == [102, 103]


def test_fixture_is_written_and_reproducible(tok, tmp_path):
    out = write_fixture(tok, tmp_path / "fixture.json")
    fixture = json.loads(out.read_text(encoding="utf-8"))
    assert fixture["tokenizer"] == "tokenizer.json" and fixture["max_tokens"] == 8
    texts = [case["text"] for case in fixture["cases"]]
    assert "" in texts and "A RED Circle" in texts and "café crème" in texts
    for case in fixture["cases"]:
        assert case["ids"] == tok.encode(case["text"])
        assert len(case["ids"]) <= 8 and case["ids"][-1] == tok.sep_id
        assert case["clean"] == pre_caption(case["text"]) and case["clean_ids"] == tok.encode(case["clean"])
    cleaned = {case["text"]: case["clean"] for case in fixture["cases"]}
    assert cleaned["<person> rides a half-pipe / ramp (again); \"wow\" ~ #1 *yes*?"] == "person rides a half pipe ramp again wow 1 yes"
    assert len(cleaned[" ".join(f"w{i}" for i in range(35))].split()) == 30
    assert any(len(case["ids"]) == 8 for case in fixture["cases"])  # a truncated case
    assert tok.encode("A RED Circle") == tok.encode("a red circle")
    assert tok.encode("café crème") == tok.encode("cafe creme")  # accents stripped
    assert write_fixture(tok, tmp_path / "again.json").read_text() == out.read_text()


def test_cli_train_and_fixture(tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps([{"image": f"{i}.png", "caption": [c, c.upper() + "!"]}
                               for i, c in enumerate(CAPTIONS)]))
    out = tmp_path / "bundle" / "tokenizer.json"
    fixture = tmp_path / "fixture.json"
    run = lambda *args: subprocess.run([sys.executable, "tokenizer.py", *args], cwd=TRAINING_DIR,
                                       check=True, capture_output=True, text=True)
    run("train", "--captions", str(ann), "--out", str(out), "--vocab-size", "200")
    run("fixture", "--tokenizer", str(out), "--max-tokens", "32", "--out", str(fixture))
    tok = TextTokenizer(out, max_tokens=32)
    # pre_caption removed every "!" before training, so it never entered the vocabulary.
    assert tok.encode("!") == [tok.cls_id, tok.unk_id, tok.sep_id]
    assert tok.unk_id not in tok.encode("a red circle")
    assert json.loads(fixture.read_text())["max_tokens"] == 32


def test_training_is_deterministic(tmp_path):
    # With the library's trainer alone these captions and this budget gave 31 different
    # vocabularies in 200 runs (merges of equal count broken by ids assigned in hash-map order).
    captions = ["a diamond left of a circle", "two diamonds above the centre", "a rectangle"] * 2
    files = {train_wordpiece(captions, tmp_path / f"{run}.json", vocab_size=60).read_text() for run in range(10)}
    assert len(files) == 1


def test_seeded_continuations_are_not_special(tokenizer_path):
    # Only the five real specials are matched before normalisation; "##e" typed by a user is text.
    added = json.loads(Path(tokenizer_path).read_text())["added_tokens"]
    assert [token["content"] for token in added] == list(SPECIAL_TOKENS)
