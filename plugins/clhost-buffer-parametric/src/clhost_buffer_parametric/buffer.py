"""ParametricBuffer: balanced groups whose members a selection strategy chooses."""

from __future__ import annotations

from typing import Any, Literal, cast

import torch
from torch import Tensor

from clhost.data import TensorData
from clhost.errors import CheckpointError, ParameterError
from clhost.rehearsal import (
    BalancedExemplarsBuffer,
    ExemplarsBuffer,
    ExemplarsSelectionStrategy,
)
from clhost.validate import non_negative_int, one_of
from clhost_selection_random import RandomExemplarsSelectionStrategy

GroupBy = Literal["class", "task", "experience"]
GROUPINGS = (None, "class", "task", "experience")


class SelectionBuffer(ExemplarsBuffer):
    """The ``max_size`` best samples of one group, in ``selection_strategy``'s order.

    New data is ranked together with the samples held; shrinking keeps a prefix of the
    ranking (iCaRL's ReduceExemplarSet), so the best samples stay without a new pass.
    """

    def __init__(self, max_size: int, selection_strategy: ExemplarsSelectionStrategy):
        super().__init__(max_size)
        self.selection_strategy = selection_strategy

    def add(self, strategy: Any, data: TensorData) -> None:
        """Rank the samples held and ``data`` together and keep the first ``max_size``."""
        if len(data) == 0:
            return
        pool = TensorData.concat([self.buffer, data])
        order = self.selection_strategy.make_sorted_indices(strategy, pool) if self.max_size else []
        self.buffer = pool.subset(order[: self.max_size])

    def resize(self, strategy: Any, new_size: int) -> None:
        self.max_size = non_negative_int("new_size", new_size)
        if len(self.buffer) > new_size:
            self.buffer = self.buffer.subset(torch.arange(new_size))


class ParametricBuffer(BalancedExemplarsBuffer):
    """Splits memory evenly among groups, each a ``SelectionBuffer``.

    ``groupby``: ``None`` (one group), ``"class"``, ``"task"`` (task label) or
    ``"experience"`` (each update is a new group, numbered in arrival order).
    ``selection_strategy`` ranks the samples of a group (default: random order).
    """

    state_key = "parametric"

    def __init__(
        self,
        max_size: int,
        groupby: GroupBy | None = None,
        selection_strategy: ExemplarsSelectionStrategy | None = None,
    ):
        one_of("groupby", groupby, GROUPINGS)
        if selection_strategy is not None and not isinstance(
            selection_strategy, ExemplarsSelectionStrategy
        ):
            raise ParameterError(
                "selection_strategy must be an ExemplarsSelectionStrategy, "
                f"got {type(selection_strategy).__name__}"
            )
        super().__init__(max_size, adaptive_size=True)
        self.groupby = groupby
        self.selection_strategy = selection_strategy or RandomExemplarsSelectionStrategy()

    def make_group_buffer(self, max_size: int) -> SelectionBuffer:
        return SelectionBuffer(max_size, self.selection_strategy)

    def _group_labels(self, data: TensorData) -> Tensor:
        if self.groupby == "class":
            return data.y
        if self.groupby == "task":
            return data.t
        group = len(self.buffer_groups) if self.groupby == "experience" else 0
        return torch.full_like(data.y, group)

    def add(self, strategy: Any, data: TensorData) -> None:
        if len(data) == 0:
            return
        labels = self._group_labels(data)
        groups, counts = torch.unique(labels, sorted=True, return_counts=True)
        groups_list = groups.tolist()
        sizes = self.target_sizes([*self.buffer_groups, *groups_list])
        for gid, group in self.buffer_groups.items():  # shrink first: never above max_size
            if gid not in groups_list:
                group.resize(strategy, sizes[gid])
        members = torch.argsort(labels, stable=True).split(counts.tolist())
        for gid, indices in zip(groups_list, members, strict=True):
            if gid not in self.buffer_groups:
                self.buffer_groups[gid] = self.make_group_buffer(sizes[gid])
            group = cast(SelectionBuffer, self.buffer_groups[gid])
            group.max_size = sizes[gid]  # ranked together with the new data, then cut
            group.add(strategy, data.subset(indices))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "groupby": self.groupby}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("groupby") != self.groupby:
            raise CheckpointError(
                f"state of a buffer grouped by {state.get('groupby')!r}, "
                f"this one groups by {self.groupby!r}"
            )
        super().load_state_dict(state)
