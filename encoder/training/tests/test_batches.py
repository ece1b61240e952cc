"""Sampling and collating training batches."""

import torch

from batches import OneCaptionPerImageSampler, collate, pairs_by_image
from negatives import CaptionSwapper
from tokenizer import TextTokenizer


def test_pairs_are_grouped_by_the_datasets_image_index():
    pairs = [(0, "a"), (0, "b"), (1, "c"), (2, "d"), (2, "e"), (2, "f")]
    assert pairs_by_image(pairs) == [[0, 1], [2], [3, 4, 5]]


def test_sampler_gives_each_image_once_per_epoch_sharded_by_rank():
    groups = [[0, 1], [2], [3, 4, 5], [6], [7]]
    ranks = [list(OneCaptionPerImageSampler(groups, seed=1, world=2, rank=r)) for r in (0, 1)]
    images = [next(i for i, g in enumerate(groups) if p in g) for p in ranks[0] + ranks[1]]
    assert len(images) == 4 and len(set(images)) == 4  # 5 images, dropped to a multiple of the world


def test_sharding_hands_each_rank_whole_batches():
    pairs = [[i] for i in range(10)]
    shards = [list(OneCaptionPerImageSampler(pairs, seed=0, world=2, rank=r, batch_size=3)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 3  # 3 full batches of 3: one each, the odd one and the rest dropped
    assert not set(shards[0]) & set(shards[1])


def test_collate_pads_captions_and_their_swaps_to_one_length(tiny_run):
    tokenizer = TextTokenizer(tiny_run / "tokenizer.json", max_tokens=16)
    # A swap two words longer than its caption: ITM concatenates both sets of token features.
    swapper = CaptionSwapper(exchange=[], inverse={"left": "left of a"})
    items = [(torch.zeros(3, 4, 4), "a red circle left of a square", 0), (torch.zeros(3, 4, 4), "a blue square", 1)]
    batch = collate(tokenizer, swapper)(items)
    assert batch.ids.shape == batch.swap_ids.shape and batch.mask.shape == batch.swap_mask.shape
    assert batch.swap_valid.tolist() == [True, False]
    assert batch.swap_mask[0].sum() == batch.mask[0].sum() + 2 and torch.equal(batch.swap_ids[1], batch.ids[1])
    assert batch.pixels.shape == (2, 3, 4, 4) and batch.image_idx.tolist() == [0, 1]


def test_collate_without_a_swapper_leaves_the_swaps_out(tiny_run):
    tokenizer = TextTokenizer(tiny_run / "tokenizer.json", max_tokens=16)
    batch = collate(tokenizer)([(torch.zeros(3, 4, 4), "a blue square", 3)])
    assert batch.swap_ids is None and batch.swap_mask is None and batch.swap_valid is None
    assert batch.to("cpu").ids.tolist() == batch.ids.tolist()
