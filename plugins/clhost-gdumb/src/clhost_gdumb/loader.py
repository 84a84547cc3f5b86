"""Minibatches that give every task of a multi-task training set the same share."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from clhost.data import TensorBatchLoader, TensorData
from clhost.errors import ParameterError


class TaskBalancedLoader:
    """Each minibatch draws from every task label of ``data``: ``batch_size`` is split
    evenly among the tasks (remainder to the smallest labels), each task sliced from its
    own shuffled pass, whose last slice may be short. A pass of the loader ends when the
    task needing the most minibatches has been seen once; a task that runs out before
    starts a fresh shuffled pass of its own (oversampled), so every minibatch holds every
    task, however few samples it has.

    This is the usual multi-task training loader (Avalanche's ``TaskBalancedDataLoader``
    with ``oversample_small_groups``): with one task it is a plain shuffled loader.
    """

    def __init__(
        self, data: TensorData, batch_size: int, *, generator: torch.Generator | None = None
    ):
        tasks = data.task_set
        if batch_size < len(tasks):
            raise ParameterError(
                f"batch_size {batch_size} cannot hold one sample of each of {len(tasks)} tasks"
            )
        share, remainder = divmod(batch_size, len(tasks))
        self.loaders = [
            TensorBatchLoader(
                data.subset(torch.nonzero(data.t == task)[:, 0]),
                share + (index < remainder),
                shuffle=True,
                generator=generator,
            )
            for index, task in enumerate(tasks)
        ]

    def __len__(self) -> int:
        return max(len(loader) for loader in self.loaders)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        passes = [iter(loader) for loader in self.loaders]
        for _ in range(len(self)):
            parts = []
            for index, loader in enumerate(self.loaders):
                batch = next(passes[index], None)
                if batch is None:  # this task ran out first: a fresh pass of it
                    passes[index] = iter(loader)
                    batch = next(passes[index])
                parts.append(batch)
            yield tuple(torch.cat(tensors) for tensors in zip(*parts, strict=True))
