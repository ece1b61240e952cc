"""Synthetic compositional scenes: a retrieval set that a bag-of-words model cannot solve.

Real caption sets rarely punish a model that ignores *which* colour goes with *which* shape, or
*which* shape is on the left. This generator makes that failure measurable: each image shows
1-3 flat shapes on a grey background, and most images belong to a **confuser group** of 2-3
scenes that use exactly the same attribute words (colours, kinds, sizes, relation) but differ in
binding (colours swapped between the two related shapes) or in relation (their positions
swapped). Inside a group only a model that binds attributes to objects can rank the right image
first.

By default ``CONFUSER_FRACTION`` = 60% of the images of every split belong to such a group (the
exact realised fraction is returned by :func:`generate`); the rest are independent scenes with
1-3 shapes.

Two shapes are always related ("A left of B"); a single shape is placed by an absolute position
("a red square at the top").

Output is the Flickr30K/COCO Karpathy layout ALBEF reads: ``<out>/<split>.json`` is a list of
``{"image": "images/<split>/000000.png", "caption": [5 strings]}`` with ``<out>`` as the image
root. A sidecar ``<out>/<split>_scenes.json`` keeps the structured scene, its canonical
description and its confuser group id for error analysis; training code can ignore it.
``<out>/train_regions.json`` holds *region captions* only: one per shape and clear position band
("a big red square on the left"), as Visual Genome's region descriptions sit beside COCO's
captions in ALBEF's pretraining data. They are for training the
ITM reranker (``pretrain.py``'s ``itm`` mode): to check "A left of B" the fusion encoder must first
learn to find one named shape and say where it is, and the scenes' own captions almost never ask that (single-shape images are under 3% of them).
``<out>/train_relations.json`` holds *relation captions* only: the related pair of each 2-3 shape
train image, from both points of view ("a big red square to the left of a small blue circle", "a
small blue circle to the right of a big red square"), each with a phrase whose inversion is its
relation mate's caption; ``<out>/relation_swap_vocab.json`` inverts relation words and exchanges
nothing, so with it (``pretrain.py --lesson-swap-vocab``) every negative of that lesson is a
relation mate: on the test split the two scores are at chance exactly there (``confuser_analysis.py``).
``<out>/train_relations_regions.json`` holds both lessons per image (relation captions, then region
captions): with the relation vocabulary a region caption's negative is its opposite band.
``<out>/swap_vocab.json`` lists the words whose exchange or inversion breaks a caption's binding,
for the ITM caption negatives of ``negatives.py`` (``pretrain.py --swap-vocab``).

Guarantees:
  * deterministic by seed: the same arguments give byte-identical JSON and PNGs;
  * every canonical scene occurs at most once over *all* splits, so no split holds two images with
    the same caption set, and test scenes are never seen in train (test measures generalisation);
  * each split is drawn from its own seeded stream, test first, so the test set does not change
    when ``n_train`` does;
  * shapes are drawn with exact palette colours (PIL draws without antialiasing), so colour masks
    recover them, and related shapes are placed so the relation clearly holds: disjoint along the
    relation's axis, and offset more along that axis than across it; a positioned shape lies in
    the band its position word names (the outer third along that axis, the middle fifth across it).

CLI: ``python scenes.py --out DIR --train 8000 --val 500 --test 1000 --seed 0 [--image-size 64]``
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageDraw

SPLITS = ("train", "val", "test")
CONFUSER_FRACTION = 0.6
CAPTIONS_PER_IMAGE = 5

KINDS = ("circle", "square", "triangle", "diamond", "cross")
# Exact RGB values: no antialiasing, so every shape pixel has one of these values and tests (or
# analyses) can find shapes with a colour mask. All are far from the grey background.
PALETTE = {
    "red": (220, 30, 30),
    "green": (30, 170, 60),
    "blue": (40, 80, 230),
    "yellow": (245, 225, 30),
    "purple": (150, 50, 200),
    "white": (250, 250, 250),
    "orange": (250, 140, 10),
}
COLOURS = tuple(PALETTE)
SIZES = ("small", "large")
# Half-extent of a shape as a fraction of the image side: large is twice small.
SIZE_FRACTION = {"small": 0.09, "large": 0.18}
BACKGROUND_LEVELS = (70, 110)  # per-image grey level, inclusive range

SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big")}
# Relation of the subject to the object: "A left B" means A is to the left of B.
RELATIONS = ("left", "right", "above", "below")
INVERSE = {"left": "right", "right": "left", "above": "below", "below": "above"}
RELATION_PHRASES = {
    "left": ("to the left of", "left of", "on the left of"),
    "right": ("to the right of", "right of", "on the right of"),
    "above": ("above", "over", "higher than"),
    "below": ("below", "under", "beneath"),
}
# "a blue square <phrase>" where the phrase places that shape relative to the one just named.
ITS_PHRASES = {"left": "to its left", "right": "to its right", "above": "above it",
               "below": "below it"}
POSITIONS = ("left", "right", "top", "bottom", "centre")
POSITION_PHRASES = {
    "left": ("on the left", "at the left"),
    "right": ("on the right", "at the right"),
    "top": ("at the top", "near the top"),
    "bottom": ("at the bottom", "near the bottom"),
    "centre": ("in the centre", "in the middle"),
}

# Words that name an attribute, mapped to the canonical attribute, for bag-of-words analysis.
ATTRIBUTE_WORDS = {
    **{c: c for c in COLOURS},
    **{k: k for k in KINDS},
    **{w: size for size, words in SIZE_WORDS.items() for w in words},
    "left": "left", "right": "right", "above": "above", "below": "below",
}


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    size: str
    x: int = 0  # centre, pixels
    y: int = 0

    def words(self, size_word: str | None = None) -> str:
        return f"{size_word or self.size} {self.colour} {self.kind}"

    def identity(self) -> tuple[str, str, str]:
        return (self.size, self.colour, self.kind)


@dataclass(frozen=True)
class Scene:
    """``shapes[0] relation shapes[1]`` when there are 2+ shapes; the only shape of a 1-shape
    scene has an absolute ``position`` instead."""

    shapes: tuple[Shape, ...]
    relation: str | None = None  # for 2+ shapes
    position: str | None = None  # for 1 shape: where it is

    def canonical(self) -> str:
        """One description per distinct scene, independent of pixel positions and phrasing.

        Right-of and below are rewritten as left-of and above with the shapes swapped, so
        "A right of B" and "B left of A" are the same scene.
        """
        if len(self.shapes) == 1:
            return f"a {self.shapes[0].words()} {POSITION_PHRASES[self.position][0]}"
        a, b = self.shapes[0], self.shapes[1]
        rel = self.relation
        if rel in ("right", "below"):
            a, b, rel = b, a, INVERSE[rel]
        text = f"a {a.words()} {RELATION_PHRASES[rel][0]} a {b.words()}"
        if len(self.shapes) == 3:
            text += f", and a {self.shapes[2].words()}"
        return text


def attribute_words(caption: str) -> list[str]:
    """Sorted multiset of canonical attribute words in a caption (synonyms folded).

    Confusers in a group have equal multisets for their canonical captions (``caption[0]``).
    """
    tokens = caption.replace(",", " ").replace(":", " ").split()
    return sorted(ATTRIBUTE_WORDS[t] for t in tokens if t in ATTRIBUTE_WORDS)


# --- sampling ---------------------------------------------------------------------------------


def _half_extent(size: str, image_size: int) -> int:
    return max(2, round(SIZE_FRACTION[size] * image_size))


def _random_identities(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """Shapes in one scene have distinct colours and distinct kinds, so a caption that names
    colour and kind identifies each shape (and its colour mask) unambiguously."""
    kinds = rng.sample(KINDS, n)
    colours = rng.sample(COLOURS, n)
    return [(rng.choice(SIZES), c, k) for k, c in zip(kinds, colours)]


def _boxes_clear(x, y, r, placed, gap) -> bool:
    return all(abs(x - px) > r + pr + gap or abs(y - py) > r + pr + gap for px, py, pr in placed)


def _relation_holds(rel: str, a: tuple[int, int, int], b: tuple[int, int, int], gap: int) -> bool:
    """``a rel b`` clearly: disjoint along the axis, and the axis offset dominates."""
    (ax, ay, ar), (bx, by, br) = a, b
    dx, dy = bx - ax, by - ay  # image y grows downwards
    if rel in ("left", "right"):
        along, across = (dx if rel == "left" else -dx), abs(dy)
    else:
        along, across = (dy if rel == "above" else -dy), abs(dx)
    return along >= ar + br + gap and across * 2 <= along


def _place(rng: random.Random, ids, relation, position, image_size) -> list[Shape] | None:
    """Rejection-sample centres; ``None`` if the layout did not fit after many tries.
    ``position`` constrains the only shape of a 1-shape scene."""
    gap = max(2, image_size // 32)
    margin = 1
    for _ in range(200):
        placed: list[tuple[int, int, int]] = []
        for i, (size, _colour, _kind) in enumerate(ids):
            r = _half_extent(size, image_size)
            lo, hi = r + margin, image_size - 1 - r - margin
            if position is not None and i == len(ids) - 1:
                lo_x, hi_x, lo_y, hi_y = _position_box(position, r, image_size)
            else:
                lo_x, hi_x, lo_y, hi_y = lo, hi, lo, hi
            if lo_x > hi_x or lo_y > hi_y:
                return None
            for _ in range(100):
                x, y = rng.randint(lo_x, hi_x), rng.randint(lo_y, hi_y)
                if not _boxes_clear(x, y, r, placed, gap):
                    continue
                if i == 1 and not _relation_holds(relation, placed[0], (x, y, r), gap):
                    continue
                placed.append((x, y, r))
                break
            else:
                break
        if len(placed) == len(ids):
            return [Shape(k, c, s, x, y) for (s, c, k), (x, y, _r) in zip(ids, placed)]
    return None


def _position_box(position: str, r: int, image_size: int) -> tuple[int, int, int, int]:
    """Centre ranges that make an unrelated shape's position word clearly true."""
    lo, hi = r + 1, image_size - 2 - r
    third, two_thirds = image_size // 3, (2 * image_size) // 3
    middle = (max(lo, image_size * 2 // 5), min(hi, image_size * 3 // 5))
    near = (lo, max(lo, third - 2))
    far = (min(hi, two_thirds + 2), hi)
    boxes = {
        "left": (*near, *middle),
        "right": (*far, *middle),
        "top": (*middle, *near),
        "bottom": (*middle, *far),
        "centre": (*middle, *middle),
    }
    return boxes[position]


def _random_scene(rng: random.Random, n_shapes: int, image_size: int) -> Scene | None:
    ids = _random_identities(rng, n_shapes)
    position = rng.choice(POSITIONS) if n_shapes == 1 else None
    relation = rng.choice(RELATIONS) if n_shapes > 1 else None
    shapes = _place(rng, ids, relation, position, image_size)
    return Scene(tuple(shapes), relation=relation, position=position) if shapes else None


def _confusers(rng: random.Random, base: Scene, image_size: int) -> list[Scene]:
    """Scenes with the same attribute words as ``base`` but a different binding or relation.

    * colour swap: the two related shapes exchange colours (binding changes);
    * position swap: the two related shapes exchange places (relation changes).
    """
    a, b, *rest = base.shapes
    swapped_colours = [(a.size, b.colour, a.kind), (b.size, a.colour, b.kind)]
    swapped_places = [b.identity(), a.identity()]  # b now plays the subject: b rel a
    out = []
    for ids in (swapped_colours, swapped_places):
        ids = ids + [s.identity() for s in rest]
        shapes = _place(rng, ids, base.relation, base.position, image_size)
        if shapes:
            out.append(Scene(tuple(shapes), relation=base.relation, position=base.position))
    rng.shuffle(out)
    return out


# --- captions ---------------------------------------------------------------------------------


SINGLE_TEMPLATES = 7
MULTI_TEMPLATES = 6  # all state the relation; index MULTI_TEMPLATES is the relation-free one
RELATION_FREE_PROBABILITY = 0.15


def captions(scene: Scene, rng: random.Random) -> list[str]:
    """Five distinct paraphrases of one scene; ``[0]`` is the canonical description.

    The other four use four *different* templates (so they differ in structure, not only in a
    synonym), with random synonyms and, for multi-shape scenes, a random point of view ("A left
    of B" or "B right of A"). Every caption of a multi-shape scene names size, colour and kind of
    both related shapes; at most one leaves the relation out.
    """
    multi = len(scene.shapes) > 1
    templates = rng.sample(range(MULTI_TEMPLATES if multi else SINGLE_TEMPLATES),
                           CAPTIONS_PER_IMAGE - 1)
    if multi and rng.random() < RELATION_FREE_PROBABILITY:
        templates[-1] = MULTI_TEMPLATES
    out = [scene.canonical()]
    for attempt in range(100):
        if len(out) == CAPTIONS_PER_IMAGE:
            return out
        # After a collision (same words as the canonical caption) retry with a fresh relation
        # template, never the relation-free one twice.
        template = templates[len(out) - 1] if attempt < len(templates) else rng.randrange(
            MULTI_TEMPLATES if multi else SINGLE_TEMPLATES)
        text = (_multi_caption if multi else _single_caption)(scene, rng, template)
        if text not in out:
            out.append(text)
    raise RuntimeError(f"could not make {CAPTIONS_PER_IMAGE} distinct captions for {scene}")


REGION_TEMPLATES = ("a {x} {where}", "the {x} is {where}", "{where}, a {x}")
BAND_INVERSE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}


def position_bands(x: float, y: float, image_size: int) -> list[str]:
    """The outer thirds a centre lies in ("left", "right", "top", "bottom"), at most one per
    axis; a band's opposite (BAND_INVERSE) is then false."""
    bands = (("left", x < image_size / 3), ("right", x > 2 * image_size / 3),
             ("top", y < image_size / 3), ("bottom", y > 2 * image_size / 3))
    return [band for band, holds in bands if holds]


def region_captions(scene: Scene, image_size: int, rng: random.Random) -> list[str]:
    """One caption per shape and position band its centre lies in (the outer thirds: left,
    right, top, bottom), e.g. "the big red square is on the left". Each names its shape fully,
    and a band's opposite is then false, so the swap negatives (``top`` -> ``bottom``) stay true
    negatives. Shapes in the middle third on both axes get none."""
    out = []
    for shape in scene.shapes:
        for band in position_bands(shape.x, shape.y, image_size):
            where = rng.choice(POSITION_PHRASES[band])
            out.append(rng.choice(REGION_TEMPLATES).format(x=_sized(rng, shape), where=where))
    return out


# Relation and position words whose inverse is also a caption word ("beneath" has none that appears).
WORD_INVERSE = {"left": "right", "right": "left", "above": "below", "below": "above",
                "over": "under", "under": "over", "top": "bottom", "bottom": "top"}
# The relation phrases with a word WORD_INVERSE inverts ("higher than" and "beneath" have none), so
# that every relation caption has its mate's as a swap.
INVERTIBLE_RELATION_PHRASES = {rel: tuple(p for p in phrases if set(p.split()) & WORD_INVERSE.keys())
                               for rel, phrases in RELATION_PHRASES.items()}


def relation_captions(scene: Scene, rng: random.Random) -> list[str]:
    """The related pair of a 2-3 shape scene from both points of view ("A left of B", "B right of
    A"), each with an invertible phrase (INVERTIBLE_RELATION_PHRASES); none for a single shape."""
    if scene.relation is None:
        return []
    a, b, *_ = scene.shapes
    out = []
    for x, y, rel in ((a, b, scene.relation), (b, a, INVERSE[scene.relation])):
        out.append(f"a {_sized(rng, x)} {rng.choice(INVERTIBLE_RELATION_PHRASES[rel])} a {_sized(rng, y)}")
    return out


def _sized(rng: random.Random, shape: Shape) -> str:
    return shape.words(rng.choice(SIZE_WORDS[shape.size]))


def _single_caption(scene: Scene, rng: random.Random, template: int) -> str:
    s = scene.shapes[0]
    x = _sized(rng, s)
    where = rng.choice(POSITION_PHRASES[scene.position])
    templates = (
        f"a {x} {where}",
        f"there is a {x} {where}",
        f"a {x} on a grey background",
        f"one {x}",
        f"a single {x} {where}",
        f"{where}, a {x}",
        f"a {s.colour} {s.kind} that is {rng.choice(SIZE_WORDS[s.size])}",
    )
    assert len(templates) == SINGLE_TEMPLATES
    return templates[template]


def _multi_caption(scene: Scene, rng: random.Random, template: int) -> str:
    a, b, *rest = scene.shapes
    rel = scene.relation
    if rng.random() < 0.5:  # describe from the other shape's point of view
        a, b, rel = b, a, INVERSE[rel]
    x, y = _sized(rng, a), _sized(rng, b)
    phrase = rng.choice(RELATION_PHRASES[rel])
    its = ITS_PHRASES[INVERSE[rel]]  # where b is, seen from a
    also = f", plus a {_sized(rng, rest[0])}" if rest else ""
    count = "two" if len(scene.shapes) == 2 else "three"
    if template == MULTI_TEMPLATES:
        third = f" and a {_sized(rng, rest[0])}" if rest else ""
        return f"{count} shapes: a {x}, a {y}{third}"
    templates = (
        f"a {x} {phrase} a {y}{also}",
        f"there is a {x} {phrase} a {y}{also}",
        f"the {x} is {phrase} the {y}{also}",
        f"{x}, {y} {its}{also}",
        f"a {x} with a {y} {its}{also}",
        f"{count} shapes: the {x} is {phrase} the {y}{also}",
    )
    assert len(templates) == MULTI_TEMPLATES
    return templates[template]


# --- drawing ----------------------------------------------------------------------------------


def draw(scene: Scene, image_size: int, background: int) -> Image.Image:
    image = Image.new("RGB", (image_size, image_size), (background,) * 3)
    pen = ImageDraw.Draw(image)
    for s in scene.shapes:
        r = _half_extent(s.size, image_size)
        fill = PALETTE[s.colour]
        x0, y0, x1, y1 = s.x - r, s.y - r, s.x + r, s.y + r
        if s.kind == "circle":
            pen.ellipse((x0, y0, x1, y1), fill=fill)
        elif s.kind == "square":
            pen.rectangle((x0, y0, x1, y1), fill=fill)
        elif s.kind == "triangle":
            pen.polygon([(s.x, y0), (x1, y1), (x0, y1)], fill=fill)
        elif s.kind == "diamond":
            pen.polygon([(s.x, y0), (x1, s.y), (s.x, y1), (x0, s.y)], fill=fill)
        elif s.kind == "cross":
            w = max(1, r // 3)
            pen.rectangle((s.x - w, y0, s.x + w, y1), fill=fill)
            pen.rectangle((x0, s.y - w, x1, s.y + w), fill=fill)
        else:
            raise ValueError(f"unknown shape kind {s.kind!r}; expected one of {KINDS}")
    return image


# --- generation -------------------------------------------------------------------------------


def _split_scenes(rng: random.Random, n: int, seen: set[str], image_size: int,
                  confuser_fraction: float) -> list[tuple[Scene, int | None]]:
    """``n`` scenes with canonical descriptions not in ``seen`` (which is updated).

    Confuser groups come first until ``confuser_fraction`` of ``n`` is covered, then
    independent scenes; the caller shuffles.
    """
    out: list[tuple[Scene, int | None]] = []
    target = round(confuser_fraction * n)
    group_id = 0
    failures = 0
    while len(out) < n:
        if failures > 10_000:
            raise RuntimeError(f"ran out of new scenes after {len(out)} of {n}; "
                               f"{len(seen)} canonical scenes already used")
        remaining_grouped = target - len(out)
        if remaining_grouped >= 2:
            base = _random_scene(rng, rng.choice((2, 3)), image_size)
            if base is None:
                failures += 1
                continue
            group = [base] + _confusers(rng, base, image_size)
            group = group[:min(len(group), remaining_grouped, 3 if rng.random() < 0.5 else 2)]
            keys = [s.canonical() for s in group]
            if len(group) < 2 or len(set(keys)) < len(keys) or any(k in seen for k in keys):
                failures += 1
                continue
            seen.update(keys)
            out.extend((s, group_id) for s in group)
            group_id += 1
        else:
            # Mostly 2-3 shapes: there are only a few hundred distinct single-shape scenes.
            scene = _random_scene(rng, rng.choices((1, 2, 3), weights=(1, 3, 3))[0], image_size)
            if scene is None or scene.canonical() in seen:
                failures += 1
                continue
            seen.add(scene.canonical())
            out.append((scene, None))
    rng.shuffle(out)
    return out


def generate(out_dir: Path, n_train: int, n_val: int, n_test: int, seed: int = 0,
             image_size: int = 64, confuser_fraction: float = CONFUSER_FRACTION) -> dict:
    """Write the three splits under ``out_dir`` and return counts and the confuser fraction."""
    counts = {"train": n_train, "val": n_val, "test": n_test}
    for split, n in counts.items():
        if n < 0:
            raise ValueError(f"n_{split} must be >= 0, got {n}")
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32 so three shapes fit, got {image_size}")
    if not 0.0 <= confuser_fraction <= 1.0:
        raise ValueError(f"confuser_fraction must be in [0, 1], got {confuser_fraction}")
    out_dir = Path(out_dir)
    seen: set[str] = set()
    stats: dict = {"seed": seed, "image_size": image_size}
    grouped_total = 0
    # Test first, each split from its own stream: the test set depends only on seed and n_test.
    for split in ("test", "val", "train"):
        rng = random.Random(f"fuserank-scenes:{seed}:{split}")
        scenes = _split_scenes(rng, counts[split], seen, image_size, confuser_fraction)
        image_dir = out_dir / "images" / split
        image_dir.mkdir(parents=True, exist_ok=True)
        entries, sidecar = [], []
        for i, (scene, group) in enumerate(scenes):
            rel_path = f"images/{split}/{i:06d}.png"
            background = rng.randint(*BACKGROUND_LEVELS)
            draw(scene, image_size, background).save(out_dir / rel_path, format="PNG")
            entries.append({"image": rel_path, "caption": captions(scene, rng)})
            sidecar.append({"image": rel_path, "canonical": scene.canonical(),
                            "group": None if group is None else f"{split}-{group}",
                            "relation": scene.relation, "position": scene.position,
                            "shapes": [asdict(s) for s in scene.shapes]})
        _write_json(out_dir / f"{split}.json", entries)
        _write_json(out_dir / f"{split}_scenes.json", sidecar)
        if split == "train":
            # Its own stream, drawn after everything else: the other files stay as they were.
            region_rng = random.Random(f"fuserank-scenes:{seed}:train-regions")
            regions = [[c for c in region_captions(scene, image_size, region_rng) if c not in entry["caption"]]
                       for entry, (scene, _) in zip(entries, scenes)]
            _write_json(out_dir / "train_regions.json",
                        [{**entry, "caption": extra} for entry, extra in zip(entries, regions) if extra])
            relation_rng = random.Random(f"fuserank-scenes:{seed}:train-relations")
            relations = [relation_captions(scene, relation_rng) for scene, _ in scenes]
            _write_json(out_dir / "train_relations.json",
                        [{**entry, "caption": extra} for entry, extra in zip(entries, relations) if extra])
            _write_json(out_dir / "train_relations_regions.json",
                        [{**entry, "caption": rel + reg} for entry, rel, reg in zip(entries, relations, regions) if rel or reg])
        grouped = sum(g is not None for _, g in scenes)
        grouped_total += grouped
        stats[split] = len(scenes)
        stats[f"{split}_confuser_groups"] = len({g for _, g in scenes if g is not None})
        stats[f"{split}_confuser_fraction"] = grouped / len(scenes) if scenes else 0.0
    # The words whose exchange or inversion breaks a caption's binding (negatives.CaptionSwapper).
    _write_json(out_dir / "swap_vocab.json", swap_vocab())
    _write_json(out_dir / "relation_swap_vocab.json", {"exchange": [], "inverse": WORD_INVERSE})
    total = sum(counts.values())
    stats["confuser_fraction"] = grouped_total / total if total else 0.0
    return stats


def swap_vocab() -> dict:
    """Swap vocabulary for ITM caption negatives: colours and kinds exchange, relation words
    invert. Only words whose inverse is also a caption word ("beneath" has none that appears)."""
    return {"exchange": [list(COLOURS), list(KINDS)], "inverse": dict(WORD_INVERSE)}


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory (image root)")
    parser.add_argument("--train", type=int, default=8000)
    parser.add_argument("--val", type=int, default=500)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--confuser-fraction", type=float, default=CONFUSER_FRACTION)
    args = parser.parse_args(argv)
    stats = generate(args.out, args.train, args.val, args.test, seed=args.seed,
                     image_size=args.image_size, confuser_fraction=args.confuser_fraction)
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
