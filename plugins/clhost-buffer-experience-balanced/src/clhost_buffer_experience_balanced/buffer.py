"""ExperienceBalancedBuffer: one reservoir per experience, sized to an equal share."""

from __future__ import annotations

from typing import Any

from clhost.data import TensorData
from clhost.rehearsal import BalancedExemplarsBuffer
from clhost_buffer_reservoir import ReservoirSamplingBuffer


class ExperienceBalancedBuffer(BalancedExemplarsBuffer):
    """Each experience seen gets an equal share of ``max_size``, a uniform sample of it.

    Groups are numbered in the order the buffer receives experiences (0, 1, ...); every
    ``update`` is one new experience. With ``adaptive_size`` the shares shrink as
    experiences arrive (the remainder goes to the earliest); otherwise each experience
    gets ``max_size // num_experiences``.
    """

    state_key = "experience-balanced"

    def __init__(
        self,
        max_size: int,
        adaptive_size: bool = True,
        num_experiences: int | None = None,
    ):
        super().__init__(max_size, adaptive_size, num_experiences)

    @property
    def num_experiences(self) -> int | None:
        return self.total_num_groups

    def make_group_buffer(self, max_size: int) -> ReservoirSamplingBuffer:
        return ReservoirSamplingBuffer(max_size)

    def add(self, strategy: Any, data: TensorData) -> None:
        new_group = len(self.buffer_groups)
        sizes = self.target_sizes([*self.buffer_groups, new_group])
        for gid, group in self.buffer_groups.items():  # shrink first: never above max_size
            group.resize(strategy, sizes[gid])
        group = self.make_group_buffer(sizes[new_group])
        group.update_from_data(data)
        self.buffer_groups[new_group] = group
