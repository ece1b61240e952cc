"""The WordPiece vocabulary and the one tokenizer used by training and by Java.

Java loads the same ``tokenizer.json`` through DJL's HuggingFaceTokenizer, which wraps the same
Rust ``tokenizers`` library, so the whole pipeline — normalizer, pre-tokenizer, model and the
``[CLS] ... [SEP]`` post-processor — lives in that one file. Padding and truncation are *not*
stored in it: the caller applies them (here ``TextTokenizer``; in Java the encoder), so the file
means the same thing whatever the batch shape.

Special token ids are fixed by training order: ``[PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4``.
``TextTokenizer`` nonetheless looks them up by name, so a stock BERT ``tokenizer.json`` (e.g.
bert-base-uncased's, where ``[PAD]=0, [UNK]=100, [CLS]=101``) works too.

CLI::

    python tokenizer.py train --captions ann1.json [ann2.json ...] --out DIR/tokenizer.json
    python tokenizer.py fixture --tokenizer DIR/tokenizer.json --max-tokens 32 --out F.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from data import load_annotations, pre_caption

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
CONTINUATION = "##"  # BERT's prefix for a piece that continues a word

# Texts for the Java parity fixture: each exercises one part of the pipeline.
FIXTURE_TEXTS = (
    "A RED Circle",  # lowercasing
    "red,circle.  left!",  # punctuation and repeated spaces
    "a zebra-like xyzzy",  # hyphen, a word split into pieces
    "☃ emoji 🐙",  # characters the vocabulary has never seen
    "café crème",  # accents (stripped because lowercase=True)
    "",  # empty: just [CLS] [SEP]
    "a small red circle is to the left of a large blue square and a green triangle "
    "sits above them while a yellow star hides below the purple hexagon",  # truncation
    "<person> rides a half-pipe / ramp (again); \"wow\" ~ #1 *yes*?",  # pre_caption's replacements
    "one\ttab  and\nnewline   runs",  # a single tab or newline survives pre_caption, runs do not
    " ".join(f"w{i}" for i in range(35)),  # pre_caption keeps the first 30 words
)


def train_wordpiece(
    texts: Iterable[str],
    out_path: Path,
    vocab_size: int = 4000,
    min_frequency: int = 2,
) -> Path:
    """Train a BERT-style uncased WordPiece vocabulary on ``texts`` and save ``tokenizer.json``.

    A small vocabulary trained on the captions themselves instead of BERT's 30k: the text
    encoders are trained from scratch, so every id is one the model can learn.

    Deterministic: the same texts give the same file in every process. The library's trainer (the
    BPE merge loop) creates each ``##``-continuation of a single character the first time it meets
    it while walking a hash map of words, so those pieces get ids in a different order per run;
    merges of equal count are then broken by those ids, and the vocabulary itself changes
    (huggingface/tokenizers#1794; seen here: ``diamo`` + ``##nd`` in one run, ``dia`` + ``##mond``
    in another). Every continuation character is therefore handed to the trainer up front, in
    sorted order, so all ids, and with them every tie, are fixed before the first merge. The result
    is renumbered canonically (special tokens first, then the rest sorted).
    """
    texts = list(texts)
    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    continuations = sorted(
        {char for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)) for char in word[1:]}
    )
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS) + [CONTINUATION + char for char in continuations],
        continuing_subword_prefix=CONTINUATION,
        show_progress=False,
    )
    scratch = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    scratch.normalizer, scratch.pre_tokenizer = normalizer, pre_tokenizer
    scratch.train_from_iterator(texts, trainer=trainer)

    # A fresh tokenizer, so that only the real special tokens are "added tokens" (the seeded
    # continuations are ordinary vocabulary entries).
    tokenizer = Tokenizer(_canonical_wordpiece(scratch.get_vocab()))
    tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre_tokenizer
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        actual = tokenizer.token_to_id(token)
        if actual != expected_id:
            raise RuntimeError(f"special token [{token}] got id [{actual}], expected [{expected_id}]")
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer.decoder = decoders.WordPiece(prefix=CONTINUATION)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_path))
    return out_path


def _canonical_wordpiece(vocab: dict[str, int]) -> models.WordPiece:
    """The same tokens with reproducible ids: specials at 0..4, whole-word pieces, then '##'
    continuations, each group sorted by string."""
    rest = sorted((t for t in vocab if t not in SPECIAL_TOKENS), key=lambda t: (t.startswith(CONTINUATION), t))
    ordered = {token: i for i, token in enumerate(list(SPECIAL_TOKENS) + rest)}
    return models.WordPiece(ordered, unk_token="[UNK]", continuing_subword_prefix=CONTINUATION, max_input_chars_per_word=100)


class TextTokenizer:
    """Loads a ``tokenizer.json`` and turns caption batches into padded id / mask tensors.

    ``max_tokens`` counts ``[CLS]`` and ``[SEP]``: the library's truncation reserves room for
    the post-processor's special tokens, so a long text ends ``... [SEP]`` at exactly
    ``max_tokens`` ids. Batches are padded with ``[PAD]`` to their longest member.
    """

    def __init__(self, path: Path, max_tokens: int):
        self._path = Path(path)
        if max_tokens < 2:
            raise ValueError(f"max_tokens must leave room for [CLS] and [SEP], got [{max_tokens}]")
        self._max_tokens = int(max_tokens)
        try:
            self._tokenizer = Tokenizer.from_file(str(self._path))
        except Exception as e:  # the Rust error says little about which file
            raise ValueError(f"cannot load tokenizer [{self._path}]: {e}") from e
        ids = {token: self._tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}
        missing = [token for token, token_id in ids.items() if token_id is None]
        if missing:
            raise ValueError(f"tokenizer [{self._path}] lacks special tokens {missing}")
        self._pad_id = ids["[PAD]"]
        self._unk_id = ids["[UNK]"]
        self._cls_id = ids["[CLS]"]
        self._sep_id = ids["[SEP]"]
        self._mask_id = ids["[MASK]"]
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self._max_tokens)
        empty = self._tokenizer.encode("").ids
        if empty != [self._cls_id, self._sep_id]:
            raise ValueError(
                f"tokenizer [{self._path}] must wrap texts as [CLS] ... [SEP]; "
                f"the empty string encodes to [{empty}]"
            )

    @property
    def path(self) -> Path:
        return self._path

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def pad_id(self) -> int:
        return self._pad_id

    @property
    def unk_id(self) -> int:
        return self._unk_id

    @property
    def cls_id(self) -> int:
        return self._cls_id

    @property
    def sep_id(self) -> int:
        return self._sep_id

    @property
    def mask_id(self) -> int:
        return self._mask_id

    def encode(self, text: str) -> list[int]:
        """Ids of one text, ``[CLS] ... [SEP]``, at most ``max_tokens`` long, unpadded."""
        return self._tokenizer.encode(text).ids

    def encode_batch(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids, attention_mask)``, both ``LongTensor [B, L]``, L the longest in the batch."""
        if isinstance(texts, str):
            raise TypeError(f"encode_batch takes a list of texts, got the string [{texts}]")
        encodings = self._tokenizer.encode_batch(list(texts))
        length = max((len(e.ids) for e in encodings), default=0)
        ids = np.full((len(encodings), length), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), length), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
        return torch.from_numpy(ids), torch.from_numpy(mask)


def write_fixture(tokenizer: TextTokenizer, out_path: Path) -> Path:
    """Write the texts-and-ids fixture the Java tests replay through DJL.

    ``"tokenizer"`` is the tokenizer file's name, to be resolved next to the fixture.
    """
    fixture = {
        "tokenizer": tokenizer.path.name,
        "max_tokens": tokenizer.max_tokens,
        "max_words": 30,
        # ids: the tokenizer alone; clean: ALBEF's pre_caption; clean_ids: the whole text pipeline
        # (pre_caption, then the tokenizer) that training and the Java TextTokenizer apply.
        "cases": [{"text": text, "ids": tokenizer.encode(text), "clean": pre_caption(text, 30),
                   "clean_ids": tokenizer.encode(pre_caption(text, 30))} for text in FIXTURE_TEXTS],
    }
    # One case per line keeps the fixture diffable; it is still plain JSON.
    cases = ",\n".join("    " + json.dumps(case, ensure_ascii=False) for case in fixture.pop("cases"))
    head = json.dumps(fixture, ensure_ascii=False)[:-1]
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(f'{head}, "cases": [\n{cases}\n]}}\n', encoding="utf-8")
    return out_path


def captions_from_annotations(paths: Iterable[Path], max_words: int = 30) -> list[str]:
    """All captions of the given Karpathy-format files, cleaned with ``pre_caption``."""
    return [
        pre_caption(caption, max_words)
        for path in paths
        for entry in load_annotations(Path(path))
        for caption in entry["caption"]
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train the WordPiece vocabulary on captions")
    train.add_argument("--captions", type=Path, nargs="+", required=True,
                       help="Karpathy-format annotation JSON files")
    train.add_argument("--out", type=Path, required=True, help="where to write tokenizer.json")
    train.add_argument("--vocab-size", type=int, default=4000)
    train.add_argument("--min-frequency", type=int, default=2)
    train.add_argument("--max-words", type=int, default=30, help="pre_caption's word limit")

    fixture = commands.add_parser("fixture", help="write the Java parity fixture")
    fixture.add_argument("--tokenizer", type=Path, required=True)
    fixture.add_argument("--max-tokens", type=int, default=32)
    fixture.add_argument("--out", type=Path, required=True)

    args = parser.parse_args(argv)
    if args.command == "train":
        texts = captions_from_annotations(args.captions, args.max_words)
        out = train_wordpiece(texts, args.out, args.vocab_size, args.min_frequency)
        size = TextTokenizer(out, max_tokens=2).vocab_size
        print(f"trained on {len(texts)} captions: {out} ({size} tokens)")
    else:
        out = write_fixture(TextTokenizer(args.tokenizer, args.max_tokens), args.out)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
