"""The training environment matches its pins, and Python's tokenizers agree with Java's DJL."""

from importlib import metadata
from pathlib import Path

import pytest
from tokenizers import Tokenizer

TRAINING_DIR = Path(__file__).resolve().parents[1]
REPO = TRAINING_DIR.parents[1]
PROBE_TOKENIZER = REPO / "encoder/src/main/resources/io/fuserank/encoder/native-check-tokenizer.json"


def pinned_requirements():
    for line in (TRAINING_DIR / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            yield name, version


@pytest.mark.parametrize("name,version", list(pinned_requirements()))
def test_installed_version_matches_pin(name, version):
    assert metadata.version(name) == version


def test_probe_tokenizer_gives_the_ids_java_expects():
    # The same expectation as NativeRuntimeCheckTest on the Java side: one tokenizer.json, one
    # sequence of ids in both languages.
    tokenizer = Tokenizer.from_file(str(PROBE_TOKENIZER))
    encoding = tokenizer.encode("A red circle, left of the blue squares.")
    assert encoding.ids == [2, 7, 8, 11, 6, 14, 16, 19, 9, 12, 22, 5, 3]
    assert encoding.tokens[-3:] == ["##s", ".", "[SEP]"]


def test_probe_tokenizer_maps_unknown_words_to_unk():
    tokenizer = Tokenizer.from_file(str(PROBE_TOKENIZER))
    assert tokenizer.encode("a zebra").ids == [2, 7, 1, 3]
