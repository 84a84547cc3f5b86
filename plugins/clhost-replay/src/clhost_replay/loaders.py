"""Replay loaders: each minibatch of the experience joined with one of the memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import torch
from torch import Tensor

from clhost.data import CyclingLoader, ReplayLoader, TensorBatchLoader, TensorData, make_loader
from clhost.rehearsal import ExemplarsBuffer
from clhost.rehearsal.data import to_tensor_data


class ReplayOptions(Protocol):
    """What a replay plugin (ReplayPlugin, BiCPlugin) holds that shapes its loader."""

    storage_policy: ExemplarsBuffer
    batch_size: int | None
    batch_size_mem: int | None
    task_balanced_dataloader: bool


def replay_dataloader(strategy: Any, replay: ReplayOptions) -> Any:
    """The training loader of a replay plugin: the experience's minibatches of
    ``batch_size`` joined with ``batch_size_mem`` samples of its ``storage_policy`` (both
    default to ``train_mb_size``), or ``None`` (the template's loader) when the memory is
    empty and no ``batch_size`` was asked."""
    memory = replay.storage_policy.buffer
    size = replay.batch_size or strategy.train_mb_size
    if len(memory) == 0:
        if replay.batch_size is None:
            return None
        return make_loader(
            strategy.adapted_dataset, size, shuffle=True, num_workers=strategy.num_workers
        )
    current = to_tensor_data(strategy.adapted_dataset)
    size_mem = replay.batch_size_mem or strategy.train_mb_size
    if replay.task_balanced_dataloader:
        return TaskBalancedReplayLoader(current, memory, size, size_mem)
    return ReplayLoader(current, memory, size, size_mem)


class TaskBalancedReplayLoader:
    """Each minibatch of ``current`` joined with one memory minibatch balanced by task.

    The ``batch_size_mem`` memory slots are split evenly among the task labels in
    ``memory`` (remainder to the smallest labels), each task cycling through its own
    samples, so a task with few exemplars is not drowned out by one with many. Every task
    gets at least one slot, so the memory minibatch is never smaller than the number of
    tasks. One pass covers ``current`` once.
    """

    def __init__(
        self,
        current: TensorData,
        memory: TensorData,
        batch_size: int,
        batch_size_mem: int,
        *,
        generator: torch.Generator | None = None,
    ):
        self.current = TensorBatchLoader(current, batch_size, shuffle=True, generator=generator)
        tasks = memory.task_set
        share, remainder = divmod(batch_size_mem, len(tasks))
        self.memories = [
            CyclingLoader(memory.subset(torch.nonzero(memory.t == task)[:, 0]), size, generator)
            for index, task in enumerate(tasks)
            for size in [max(1, share + (index < remainder))]
        ]
        self._width = min(len(current.tensors), len(memory.tensors))

    def __len__(self) -> int:
        return len(self.current)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        for batch in self.current:
            stored = [memory.next() for memory in self.memories]
            yield tuple(
                torch.cat([batch[i], *(part[i] for part in stored)]) for i in range(self._width)
            )
