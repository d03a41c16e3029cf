"""Infinite, resumable index streams and the batch loader built on them.

Every stream is a pure function of (seed, position): the index at position p never depends on
how the stream was started, so a run resumed with `start = step * batch_size` sees exactly the
batches of the uninterrupted run, random crops and flips included.
"""

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data._utils.collate import default_collate

logger = logging.getLogger(__name__)


def _check_stream(n: int, seed: int, start: int) -> None:
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n (the dataset size) must be a positive int, got {n!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not isinstance(start, int) or start < 0:
        raise ValueError(f"start must be a non-negative int, got {start!r}")


class InfiniteSampler(Sampler[int]):
    """Yields dataset indices forever: epoch e is torch.randperm(n) drawn from a generator
    seeded with seed + e (or 0..n-1 in order when shuffle=False). `start` skips the first
    `start` indices of that stream."""

    def __init__(self, n: int, *, seed: int, shuffle: bool = True, start: int = 0) -> None:
        _check_stream(n, seed, start)
        self.n, self.seed, self.shuffle, self.start = n, seed, shuffle, start

    def epoch(self, e: int) -> torch.Tensor:
        """int64 [n]: the order of epoch e."""
        if not self.shuffle:
            return torch.arange(self.n)
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + e))

    def __iter__(self) -> Iterator[int]:
        e, offset = divmod(self.start, self.n)
        while True:
            yield from self.epoch(e)[offset:].tolist()
            e, offset = e + 1, 0

    def take(self, position: int, count: int) -> torch.Tensor:
        """int64 [count]: the stream at positions position .. position + count - 1."""
        return _take_blocks(self, self.epoch, position, count)


class DomainBalancedSampler(Sampler[int]):
    """Yields indices forever with every non-empty domain (class) equally likely per draw.

    The stream is cut into blocks of n draws; block b, from a generator seeded with seed + b,
    picks a domain uniformly for each draw and a permutation of each domain's images, and the
    c-th draw of domain d in the block is the (c mod |d|)-th image of that permutation. Empty
    domains are skipped with a warning (never divided by); `start` skips that many draws.
    labels: int64 [N] domain (class) index of each image.
    """

    def __init__(self, labels: Sequence[int] | np.ndarray, *, seed: int, start: int = 0,
                 num_domains: int | None = None) -> None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"labels must be an int array [N] of domain indices, got {labels.dtype} "
                f"{list(labels.shape)}"
            )
        _check_stream(len(labels), seed, start)
        if labels.min() < 0:
            raise ValueError(f"labels must be >= 0 domain indices, got {labels.min()}")
        num_domains = int(labels.max()) + 1 if num_domains is None else num_domains
        members = [np.flatnonzero(labels == d) for d in range(num_domains)]
        empty = [d for d, m in enumerate(members) if len(m) == 0]
        if empty:
            logger.warning("domains %s have no images; the balanced sampler skips them", empty)
        self.members = [torch.from_numpy(m) for m in members if len(m) > 0]
        self.n, self.seed, self.start = len(labels), seed, start

    def block(self, b: int) -> torch.Tensor:
        """int64 [n]: the indices of block b."""
        g = torch.Generator().manual_seed(self.seed + b)
        domains = torch.randint(len(self.members), (self.n,), generator=g)
        out = torch.empty(self.n, dtype=torch.int64)
        for d, m in enumerate(self.members):
            where = torch.nonzero(domains == d).flatten()
            perm = m[torch.randperm(len(m), generator=g)]
            out[where] = perm[torch.arange(len(where)) % len(m)]
        return out

    def __iter__(self) -> Iterator[int]:
        b, offset = divmod(self.start, self.n)
        while True:
            yield from self.block(b)[offset:].tolist()
            b, offset = b + 1, 0

    def take(self, position: int, count: int) -> torch.Tensor:
        """int64 [count]: the stream at positions position .. position + count - 1."""
        return _take_blocks(self, self.block, position, count)


def _take_blocks(sampler, make_block, position: int, count: int) -> torch.Tensor:
    """Slices a stream made of n-long blocks, keeping the last block built on the sampler."""
    parts = []
    while count > 0:
        b, offset = divmod(position, sampler.n)
        cached = getattr(sampler, "_last_block", None)
        if cached is None or cached[0] != b:
            cached = sampler._last_block = (b, make_block(b))
        part = cached[1][offset : offset + count]
        parts.append(part)
        position, count = position + len(part), count - len(part)
    return parts[0] if len(parts) == 1 else torch.cat(parts)


class _PositionedBatches(Sampler[tuple[torch.Tensor, int]]):
    """Cuts an index stream into batches (int64 [N]), each with the stream position of its
    first item."""

    def __init__(self, stream: Sampler[int], batch_size: int, start: int) -> None:
        self.stream, self.batch_size, self.start = stream, batch_size, start

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int]]:
        position = self.start
        while True:
            yield self.stream.take(position, self.batch_size), position
            position += self.batch_size


def batch_generator(seed: int, position: int) -> torch.Generator:
    """The generator of the random crops and flips of the batch starting at `position`."""
    return torch.Generator().manual_seed((seed * 0x9E3779B97F4A7C15 + position) % 2**63)


class _BatchView(Dataset):
    """Maps (indices, position) to a whole batch; picklable for `spawn` workers."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __getitem__(self, key: tuple[torch.Tensor, int]):
        indices, position = key
        if hasattr(self.dataset, "get_batch"):
            random = getattr(getattr(self.dataset, "transform", None), "is_random", True)
            generator = batch_generator(self.seed, position) if random else None
            return self.dataset.get_batch(indices, generator=generator)
        return default_collate([self.dataset[i] for i in indices.tolist()])


def build_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    seed: int,
    start: int = 0,
    num_workers: int = 0,
    shuffle: bool = True,
    balance: bool = False,
    multiprocessing_context: str | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """An endless loader of full batches (x [N, C, R, R], labels [N] or [N, K]).

    Indices come from InfiniteSampler (or DomainBalancedSampler when balance=True, from
    dataset.labels); batches run across epoch boundaries, so every batch is full. `start` is
    the number of images already drawn (step * batch_size to resume). With num_workers > 0 the
    workers are persistent and may be started with multiprocessing_context="spawn". With the
    in-memory cache, num_workers=0 is fastest: a batch is one tensor index.
    """
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
    if len(dataset) == 0:
        raise ValueError("dataset is empty; a loader needs at least one image")

    # The index stream, then batches tagged with their stream position.
    if balance:
        labels = getattr(dataset, "labels", None)
        if labels is None or np.ndim(labels) != 1:
            raise ValueError(
                "balance=True needs a dataset with one domain (class) label per image, got "
                f"labels of shape {None if labels is None else list(np.shape(labels))}"
            )
        stream = DomainBalancedSampler(labels, seed=seed, start=start,
                                       num_domains=getattr(dataset, "num_classes", None))
    else:
        stream = InfiniteSampler(len(dataset), seed=seed, shuffle=shuffle, start=start)
    batches = _PositionedBatches(stream, batch_size, start)

    return DataLoader(
        _BatchView(dataset, seed),
        sampler=batches,
        batch_size=None,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        multiprocessing_context=multiprocessing_context if num_workers > 0 else None,
        pin_memory=pin_memory,
    )
