"""Training batches: which captions an epoch visits (OneCaptionPerImageSampler), and how a list
of dataset items becomes a model.Batch (collate), with optional word-swapped captions."""

from __future__ import annotations

import random

import torch

from model import Batch
from negatives import CaptionSwapper
from tokenizer import TextTokenizer


class OneCaptionPerImageSampler(torch.utils.data.Sampler):
    """An epoch visits every image once with one of its captions drawn at random, so a batch
    holds distinct images (ITM hard negatives need other images) and all captions get seen over
    the epochs. Seeded by (seed, epoch); sharded for DDP in whole batches.
    """

    def __init__(self, pairs_by_image: list[list[int]], seed: int, world: int = 1, rank: int = 0, batch_size: int = 1):
        self.pairs_by_image = pairs_by_image
        self.seed, self.world, self.rank, self.batch_size = seed, world, rank, batch_size
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __iter__(self):
        rng = random.Random(self.seed * 100_003 + self.epoch)
        order = list(range(len(self.pairs_by_image)))
        rng.shuffle(order)
        if self.world > 1:
            # Whole batches, the same number on every rank (collectives need equal step counts).
            batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
            order = [i for batch in batches[: self._batches_per_rank() * self.world][self.rank :: self.world] for i in batch]
        return iter([rng.choice(self.pairs_by_image[i]) for i in order])

    def _batches_per_rank(self) -> int:
        return len(self.pairs_by_image) // self.batch_size // self.world

    def __len__(self):
        if self.world == 1:
            return len(self.pairs_by_image)
        return self._batches_per_rank() * self.batch_size


def pairs_by_image(pairs: list[tuple[int, str]]) -> list[list[int]]:
    """Indices of RetrievalTrainDataset's (image_index, caption) pairs grouped by image, taken
    from the dataset itself so the sampler and the dataset can never number pairs differently."""
    groups: list[list[int]] = []
    for pair_index, (image_index, _) in enumerate(pairs):
        while len(groups) <= image_index:
            groups.append([])
        groups[image_index].append(pair_index)
    return groups


def collate(tokenizer: TextTokenizer, swapper: CaptionSwapper | None = None, seed: int = 0):
    """A DataLoader collate_fn making a model.Batch. With a swapper each row also gets one
    word-swapped caption for ITM (negatives.py), or its own caption where no swap exists (masked
    out by ``swap_valid``)."""
    rng = random.Random(seed)

    def fn(items) -> Batch:
        images, captions, image_idx = zip(*items)
        pixels, image_idx = torch.stack(images), torch.tensor(image_idx, dtype=torch.long)
        if swapper is None:
            ids, mask = tokenizer.encode_batch(list(captions))
            return Batch(pixels, ids, mask, image_idx)
        swapped = [swapper.swap(c, rng) for c in captions]
        # One call pads captions and swaps to one length: ITM concatenates their token features,
        # and a swap can change the number of word pieces ("red" -> "yellow").
        all_ids, all_mask = tokenizer.encode_batch(list(captions) + [s or c for s, c in zip(swapped, captions)])
        n = len(captions)
        return Batch(pixels, all_ids[:n], all_mask[:n], image_idx,
                     all_ids[n:], all_mask[n:], torch.tensor([s is not None for s in swapped]))

    return fn


def endless_batches(loader, sampler: OneCaptionPerImageSampler):
    """The loader's batches for ever, a new epoch (new order, new captions) each time round."""
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1
