"""Word-swap caption negatives for ITM: the true image with a caption whose binding is broken.

ALBEF's ITM negatives are in-batch pairs picked by ITC similarity. In a batch of 64 drawn from
thousands of images the one image that differs from the positive only in *which* colour goes with
*which* shape is almost never present, so ITM learns the same bag of attributes ITC already has.
Departure (after NegCLIP, Yuksekgonul et al., "When and why vision-language models behave like
bags-of-words", ICLR 2023, which adds such captions to the contrastive loss): each training
caption also yields one *swapped* caption scored against its own image with ITM label 0, so the
fusion encoder must bind attributes to objects and read relations. ITC is left as ALBEF has it.

A swap is one of:
  * exchange: the first two *different* words of one exchange class (e.g. colours) trade places
    ("red circle left of a blue square" -> "blue circle left of a red square");
  * inverse: one relation word becomes its inverse ("left" -> "right").
Only words of the vocabulary are ever written, so a negative never carries a token the positives
lack (which would be a shortcut). The vocabulary is data: ``scenes.py`` writes
``swap_vocab.json`` for its captions; for other caption sets a user writes their own, e.g.
``{"exchange": [["red", "blue", ...]], "inverse": {"left": "right", "right": "left"}}``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path


class CaptionSwapper:
    def __init__(self, exchange: list[list[str]], inverse: dict[str, str]):
        for cls in exchange:
            if len(set(cls)) < 2:
                raise ValueError(f"exchange class {cls} needs at least two distinct words")
        for word, target in inverse.items():
            if word == target:
                raise ValueError(f"inverse maps [{word}] to itself")
        self.exchange = [frozenset(cls) for cls in exchange]
        self.inverse = dict(inverse)

    @classmethod
    def load(cls, path: Path) -> "CaptionSwapper":
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        unknown = set(spec) - {"exchange", "inverse"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)} (valid: exchange, inverse)")
        return cls(spec.get("exchange", []), spec.get("inverse", {}))

    def to_dict(self) -> dict:
        return {"exchange": [sorted(c) for c in self.exchange], "inverse": self.inverse}

    def candidates(self, caption: str) -> list[str]:
        """Every distinct swapped version of a (pre_caption-cleaned) caption; empty if none."""
        words = caption.split(" ")
        out = []
        for cls in self.exchange:
            positions = [i for i, w in enumerate(words) if w in cls]
            for j in positions[1:]:
                first = positions[0]
                if words[j] != words[first]:
                    swapped = list(words)
                    swapped[first], swapped[j] = words[j], words[first]
                    out.append(" ".join(swapped))
                    break
        for i, w in enumerate(words):
            if w in self.inverse:
                out.append(" ".join(words[:i] + [self.inverse[w]] + words[i + 1:]))
        return list(dict.fromkeys(c for c in out if c != caption))

    def swap(self, caption: str, rng: random.Random) -> str | None:
        """One swapped caption drawn uniformly from :meth:`candidates`, or None."""
        options = self.candidates(caption)
        return rng.choice(options) if options else None
