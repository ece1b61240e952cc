"""Emoji cross-style retrieval set, built from MIT-licensed npm packages.

The same ~1,900 emoji concepts are drawn by four vendors (Apple, Google, Facebook, Twitter), so a
model trained on three styles and tested on the fourth measures whether it learned the *concept*
("octopus") rather than a vendor's drawing style. Captions come from two independent vocabularies:
the emoji-datasource name/short names/category and the emojibase (CLDR) label and tags.

Splits (Flickr30K/COCO Karpathy layout, as ALBEF reads it):
  * train: every non-held-out concept in each train style (apple, google, facebook by default);
  * val: a seeded ``val_fraction`` of concepts, held out of train entirely, each rendered in *one*
    seeded train style. Val therefore measures unseen concepts in a seen style, the part of
    generalisation test does not isolate. One style per concept, not all three, because three
    images with identical caption sets would make text-to-image recall ambiguous by construction;
  * test: every concept in the test style (twitter), including val concepts: cross-style.

Images are not copied. The image root is ``<npm_dir>/node_modules``; each ``image`` path is
relative to it (``emoji-datasource-apple/img/apple/64/1f419.png``) and ``out_dir/image_root.txt``
holds the absolute root. The PNGs are 64x64 RGBA whose fully transparent pixels still carry
colour, so a loader should composite them onto a fixed background rather than drop alpha.

Cleaning, all counted in the returned stats:
  * skin-tone variations are skipped (a tone is not a concept), and so are entries without an
    image in a style (``has_img_<style>`` false or the file missing);
  * emoji-datasource hexcodes keep ``FE0F`` (variation selector 16) where emojibase sometimes
    drops it, so the join ignores ``FE0F``;
  * within one style, a PNG byte-identical to one already kept is skipped (e.g. "family" and
    "family: man, woman, boy"), since no model could rank one above the other;
  * a caption shared by two concepts (both "man in tuxedo") is dropped from both for the same
    reason.

CLI: ``python emoji_dataset.py --npm-dir work/npm --out work/data/emoji [--install]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_NPM_DIR = REPO / "work" / "npm"  # /work/ is git-ignored
DEFAULT_OUT_DIR = REPO / "work" / "data" / "emoji"

STYLES = ("apple", "google", "twitter", "facebook")
EMOJI_DATASOURCE_VERSION = "16.0.0"
EMOJIBASE_DATA_VERSION = "17.0.0"
PACKAGES = {
    **{f"emoji-datasource-{style}": EMOJI_DATASOURCE_VERSION for style in STYLES},
    "emojibase-data": EMOJIBASE_DATA_VERSION,
}
IMAGE_SIZE_DIR = "64"
MAX_CAPTIONS = 5
MAX_TAGS = 6  # keeps "<label>: <tags>" within a short text encoder context


def install_packages(npm_dir: Path = DEFAULT_NPM_DIR) -> bool:
    """Install the pinned packages under ``npm_dir`` unless they already are; True if npm ran."""
    npm_dir = Path(npm_dir)
    if all(_installed_version(npm_dir, name) == version for name, version in PACKAGES.items()):
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH; install Node.js or pass --npm-dir with the "
                           f"packages {sorted(PACKAGES)} already installed")
    npm_dir.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
    subprocess.run([npm, "install", "--prefix", str(npm_dir), "--no-audit", "--no-fund", *specs],
                   check=True)
    for name, version in PACKAGES.items():
        found = _installed_version(npm_dir, name)
        if found != version:
            raise RuntimeError(f"{name}: expected version {version} under {npm_dir}, found {found}")
    return True


def _installed_version(npm_dir: Path, name: str) -> str | None:
    manifest = npm_dir / "node_modules" / name / "package.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text(encoding="utf-8")).get("version")


def join_key(hexcode: str) -> str:
    """Hexcode normalised for the join: upper case, without FE0F (emojibase omits it at times)."""
    return "-".join(part for part in hexcode.upper().split("-") if part != "FE0F")


def captions(entry: dict, base: dict | None) -> list[str]:
    """Up to five distinct, non-empty, lower-cased captions for one emoji-datasource entry.

    Ordered so the most distinct sources survive the cut: the name, a sentence, the emojibase
    label and its tags, the subcategory, then short names and the category.
    """
    name = _clean(entry.get("name"))
    label = _clean(base.get("label")) if base else ""
    tags = [_clean(t) for t in (base.get("tags") or [])][:MAX_TAGS] if base else []
    concept = label or name
    subcategory = _clean((entry.get("subcategory") or "").replace("-", " "))
    category = _clean(entry.get("category"))
    # Tags and categories that the label already spells out add nothing ("keycap: keycap: #").
    label_words = set(label.replace(":", " ").replace(",", " ").split())
    tags = [t for t in tags if t and t not in label_words]
    candidates = [
        name,
        f"an emoji of {name}" if name else "",
        label,
        f"{label}: {', '.join(tags)}" if label and tags else "",
        f"{subcategory}: {concept}" if _adds(subcategory, concept) else "",
        *(_clean(s.replace("_", " ")) for s in entry.get("short_names") or []),
        f"{category}: {concept}" if _adds(category, concept) else "",
    ]
    out: list[str] = []
    for text in candidates:
        if text and text not in out:
            out.append(text)
    return out[:MAX_CAPTIONS]


def _adds(prefix: str, concept: str) -> bool:
    """Whether "<prefix>: <concept>" says more than the concept already does."""
    return bool(prefix and concept and not concept.startswith(prefix))


def _clean(text: str | None) -> str:
    return " ".join((text or "").lower().split())


def _load_json(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; run with --install or check --npm-dir")
    return json.loads(path.read_text(encoding="utf-8"))


def build(npm_dir: Path = DEFAULT_NPM_DIR, out_dir: Path = DEFAULT_OUT_DIR,
          train_styles: tuple[str, ...] = ("apple", "google", "facebook"),
          test_style: str = "twitter", val_fraction: float = 0.05, seed: int = 0) -> dict:
    """Write ``train.json``, ``val.json``, ``test.json`` and ``image_root.txt``; return counts."""
    train_styles = tuple(train_styles)
    for style in (*train_styles, test_style):
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    if test_style in train_styles:
        raise ValueError(f"test style {test_style!r} is also a train style {train_styles}")
    if not train_styles:
        raise ValueError("train_styles is empty")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")

    root = (Path(npm_dir) / "node_modules").resolve()
    base = {join_key(e["hexcode"]): e for e in _load_json(root / "emojibase-data/en/data.json")}
    styles = (*train_styles, test_style)
    # Every package lists the same emojis (has_img_<style> differs); read each style's own file
    # anyway so a missing or mismatched package fails loudly rather than silently.
    per_style = {s: _load_json(root / f"emoji-datasource-{s}/emoji.json") for s in styles}
    stats: Counter = Counter()

    concepts: dict[str, dict] = {}  # unified -> entry, in package order
    for style in styles:
        for entry in per_style[style]:
            concepts.setdefault(entry["unified"], entry)
    stats["concepts"] = len(concepts)
    stats["skin_variations_skipped"] = sum(
        len(e.get("skin_variations") or {}) for e in concepts.values())

    caption_sets = {}
    for unified, entry in concepts.items():
        joined = base.get(join_key(unified))
        stats["joined_emojibase"] += joined is not None
        caption_sets[unified] = captions(entry, joined)
    shared = Counter(c for caps in caption_sets.values() for c in caps)
    for unified, caps in caption_sets.items():
        kept = [c for c in caps if shared[c] == 1]
        stats["ambiguous_captions_dropped"] += len(caps) - len(kept)
        caption_sets[unified] = kept

    images: dict[str, dict[str, str]] = {s: {} for s in styles}  # style -> unified -> path
    for style in styles:
        hashes: set[str] = set()
        for entry in per_style[style]:
            unified = entry["unified"]
            rel = f"emoji-datasource-{style}/img/{style}/{IMAGE_SIZE_DIR}/{entry['image']}"
            if not entry.get(f"has_img_{style}") or not (root / rel).is_file():
                stats[f"{style}_missing_image"] += 1
                continue
            digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
            if digest in hashes:
                stats[f"{style}_duplicate_image"] += 1
                continue
            if not caption_sets[unified]:
                stats[f"{style}_no_caption"] += 1
                continue
            hashes.add(digest)
            images[style][unified] = rel

    rng = random.Random(f"fuserank-emoji:{seed}")
    trainable = sorted(set().union(*(images[s] for s in train_styles)))
    n_val = round(val_fraction * len(trainable))
    val_concepts = set(rng.sample(trainable, n_val))

    def entry_for(style: str, unified: str) -> dict:
        return {"image": images[style][unified], "caption": caption_sets[unified]}

    splits = {
        "train": [entry_for(s, u) for s in train_styles for u in images[s]
                  if u not in val_concepts],
        "val": [entry_for(rng.choice([s for s in train_styles if u in images[s]]), u)
                for u in sorted(val_concepts)],
        "test": [entry_for(test_style, u) for u in images[test_style]],
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, entries in splits.items():
        (out_dir / f"{split}.json").write_text(
            json.dumps(entries, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        stats[split] = len(entries)
    (out_dir / "image_root.txt").write_text(f"{root}\n", encoding="utf-8")
    stats["val_concepts"] = n_val
    stats["test_concepts_unseen_in_train"] = sum(u in val_concepts for u in images[test_style])
    return dict(stats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--npm-dir", type=Path, default=DEFAULT_NPM_DIR,
                        help="npm prefix holding node_modules (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--install", action="store_true",
                        help="npm-install the pinned packages first if they are missing")
    parser.add_argument("--train-styles", nargs="+", default=["apple", "google", "facebook"],
                        choices=STYLES)
    parser.add_argument("--test-style", default="twitter", choices=STYLES)
    parser.add_argument("--val-fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.install:
        install_packages(args.npm_dir)
    stats = build(args.npm_dir, args.out, train_styles=tuple(args.train_styles),
                  test_style=args.test_style, val_fraction=args.val_fraction, seed=args.seed)
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
