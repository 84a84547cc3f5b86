"""Minibatch iterables. Tensor data is batched by index slicing, never per sample.

Under distributed training (``clhost.distributed``) shuffled loaders shard by default:
every rank walks the same permutation, drawn on rank 0, and takes its slice of each
global minibatch, so ``batch_size`` stays the global minibatch and every rank makes the
same number of steps. ``shard=True`` on an unshuffled loader deals whole minibatches
round-robin (evaluation: nothing padded, nothing counted twice); ``shard=False`` keeps
every sample on every rank (a plugin's statistics over all the data).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from clhost import distributed
from clhost.data.tensors import TensorData


class TensorBatchLoader:
    """Yields ``(x, y, t, *extras)`` minibatches of a ``TensorData`` by slicing.

    Without shuffling the batches are views; with shuffling one permutation per pass is
    drawn from ``generator`` and each batch is one gather per tensor. ``shard``: see the
    module's docstring (``None``: shard when shuffling).
    """

    def __init__(
        self,
        data: TensorData,
        batch_size: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
        shard: bool | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.data, self.batch_size = data, batch_size
        self.shuffle, self.drop_last, self.generator = shuffle, drop_last, generator
        self.shard = shuffle if shard is None else shard

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        tensors, n, size = self.data.tensors, len(self.data), self.batch_size
        stop = n - n % size if self.drop_last else n
        sharded = self.shard and distributed.world_size() > 1
        if not self.shuffle:
            starts = range(0, stop, size)
            if sharded:
                starts = starts[distributed.rank() :: distributed.world_size()]
            for start in starts:
                yield tuple(tensor[start : start + size] for tensor in tensors)
            return
        order = torch.randperm(n, generator=self.generator).to(self.data.y.device)
        if sharded:
            order = distributed.broadcast_tensor(order)
        for start in range(0, stop, size):
            index = order[start : start + size]
            if sharded:
                index = distributed.rank_part(index)
            yield tuple(tensor[index] for tensor in tensors)


class CyclingLoader:
    """Endless shuffled minibatches of ``data``: a new permutation every pass."""

    def __init__(self, data: TensorData, batch_size: int, generator: torch.Generator | None = None):
        self.loader = TensorBatchLoader(
            data, min(batch_size, len(data)), shuffle=True, generator=generator
        )
        self._batches: Iterator[tuple[Tensor, ...]] = iter(())

    def next(self) -> tuple[Tensor, ...]:
        batch = next(self._batches, None)
        if batch is None:
            self._batches = iter(self.loader)
            batch = next(self._batches)
        return batch


class ReplayLoader:
    """Each minibatch of ``current`` joined with one minibatch drawn from ``memory``.

    One pass covers ``current`` once; memory batches cycle with their own batch size
    (Avalanche's ReplayDataLoader semantics). Extras are kept when both sides have them.
    """

    def __init__(
        self,
        current: TensorData,
        memory: TensorData,
        batch_size: int,
        batch_size_mem: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ):
        self.current = TensorBatchLoader(
            current, batch_size, shuffle=shuffle, drop_last=drop_last, generator=generator
        )
        self.memory = CyclingLoader(memory, batch_size_mem, generator) if len(memory) else None
        self._width = min(len(current.tensors), len(memory.tensors))

    def __len__(self) -> int:
        return len(self.current)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        for batch in self.current:
            if self.memory is None:
                yield batch
                continue
            stored = self.memory.next()
            yield tuple(torch.cat((batch[i], stored[i])) for i in range(self._width))


def make_loader(
    dataset: Any,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
    drop_last: bool = False,
    shard: bool | None = None,
) -> Any:
    """The fastest loader for ``dataset``: slicing for tensors, DataLoader otherwise;
    ``shard`` as ``TensorBatchLoader``'s (a ``DistributedSampler`` for a DataLoader)."""
    if isinstance(dataset, TensorData):
        return TensorBatchLoader(
            dataset,
            batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            generator=generator,
            shard=shard,
        )
    if (shuffle if shard is None else shard) and distributed.world_size() > 1:
        return _sharded_loader(dataset, batch_size, shuffle, generator, num_workers, drop_last)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        drop_last=drop_last,
    )


class _EpochLoader:
    """A DataLoader over a ``DistributedSampler``, calling ``set_epoch`` before each pass
    so every pass is a new permutation that all ranks share."""

    def __init__(self, loader: torch.utils.data.DataLoader, sampler: Any):
        self.loader, self.sampler, self.epoch = loader, sampler, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        return iter(self.loader)


def _sharded_loader(
    dataset: Any,
    batch_size: int,
    shuffle: bool,
    generator: torch.Generator | None,
    num_workers: int,
    drop_last: bool,
) -> Any:
    """This rank's DataLoader: a ``DistributedSampler`` (seed drawn on rank 0) with the
    global ``batch_size`` split among ranks when shuffling; whole batches dealt
    round-robin, unpadded, otherwise."""
    world, rank = distributed.world_size(), distributed.rank()
    if not shuffle:
        batches = list(torch.utils.data.BatchSampler(range(len(dataset)), batch_size, drop_last))
        return torch.utils.data.DataLoader(
            dataset, batch_sampler=batches[rank::world], num_workers=num_workers
        )
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    sampler: torch.utils.data.DistributedSampler = torch.utils.data.DistributedSampler(
        dataset, world, rank, shuffle=True, seed=distributed.broadcast_object(seed)
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=-(-batch_size // world),
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
    )
    return _EpochLoader(loader, sampler)
