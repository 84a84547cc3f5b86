"""ClassBalancedBuffer: one reservoir per class, sized to an equal share of memory."""

from __future__ import annotations

from typing import Any

import torch

from clhost.data import TensorData
from clhost.rehearsal import BalancedExemplarsBuffer
from clhost_buffer_reservoir import ReservoirSamplingBuffer


class ClassBalancedBuffer(BalancedExemplarsBuffer):
    """Each class seen gets an equal share of ``max_size``, filled by reservoir sampling.

    A class met again in a later experience keeps a uniform sample of all its samples.
    With ``adaptive_size`` the shares shrink as classes arrive (the remainder goes to the
    smallest class ids); otherwise every class gets ``max_size // total_num_classes``.
    """

    state_key = "class-balanced"

    def __init__(
        self,
        max_size: int,
        adaptive_size: bool = True,
        total_num_classes: int | None = None,
    ):
        super().__init__(max_size, adaptive_size, total_num_classes)

    @property
    def total_num_classes(self) -> int | None:
        return self.total_num_groups

    @property
    def seen_classes(self) -> list[int]:
        return sorted(self.buffer_groups)

    def make_group_buffer(self, max_size: int) -> ReservoirSamplingBuffer:
        return ReservoirSamplingBuffer(max_size)

    def add(self, strategy: Any, data: TensorData) -> None:
        if len(data) == 0:
            return
        classes, counts = torch.unique(data.y, sorted=True, return_counts=True)
        classes_list = classes.tolist()
        sizes = self.target_sizes([*self.buffer_groups, *classes_list])
        for gid, group in self.buffer_groups.items():  # shrink first: never above max_size
            group.resize(strategy, sizes[gid])
        by_class = torch.argsort(data.y, stable=True).split(counts.tolist())
        for label, indices in zip(classes_list, by_class, strict=True):
            if label not in self.buffer_groups:
                self.buffer_groups[label] = self.make_group_buffer(sizes[label])
            self.buffer_groups[label].update_from_data(data.subset(indices))
