"""Replay buffers: a bounded memory of past samples, plain or split into balanced groups."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from clhost.data import TensorData
from clhost.errors import CheckpointError, ParameterError
from clhost.rehearsal.data import (
    empty_tensor_data,
    experience_tensors,
    tensor_data_from_state,
    tensor_data_state,
)
from clhost.validate import non_negative_int, positive_int


class ExemplarsBuffer(ABC):
    """A memory of at most ``max_size`` samples that a strategy replays.

    Subclasses decide which samples enter (``update``) and which leave when the memory
    shrinks (``resize``). Samples are held as one ``TensorData`` of copies, so the memory
    costs the bytes of what it holds and nothing that grows with the length of the stream.
    """

    def __init__(self, max_size: int):
        self.max_size = non_negative_int("max_size", max_size)
        self._buffer = empty_tensor_data()

    @property
    def buffer(self) -> TensorData:
        """The samples held, with their targets, task labels and extras."""
        return self._buffer

    @buffer.setter
    def buffer(self, data: TensorData) -> None:
        if not isinstance(data, TensorData):
            raise TypeError(f"a buffer holds TensorData, got {type(data).__name__}")
        self._buffer = data

    def __len__(self) -> int:
        return len(self.buffer)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_size={self.max_size}, held={len(self)})"

    def update(self, strategy: Any) -> None:
        """Take what should be kept from ``strategy.experience`` (after training on it)."""
        self.add(strategy, experience_tensors(strategy.experience))

    def update_from_data(self, data: TensorData) -> None:
        """Take what should be kept from ``data``, with no strategy at hand."""
        self.add(None, data)

    def add(self, strategy: Any, data: TensorData) -> None:
        """Take what should be kept from ``data``. ``strategy`` is ``None`` when the caller
        has none; a buffer that needs one (e.g. to rank samples by their features) says so.
        Buffers implement this, or override ``update`` and ``update_from_data``."""
        raise NotImplementedError(f"{type(self).__name__} implements neither add nor update")

    @abstractmethod
    def resize(self, strategy: Any, new_size: int) -> None:
        """Change ``max_size``, dropping the least valuable samples if it shrinks."""

    def state_dict(self) -> dict[str, Any]:
        return {"max_size": self.max_size, "samples": tensor_data_state(self.buffer)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.max_size = _stored_size(state)
        self._buffer = tensor_data_from_state(state.get("samples"))


class BalancedExemplarsBuffer(ExemplarsBuffer):
    """A buffer split into groups (classes, tasks, experiences), each its own buffer.

    With ``adaptive_size`` the groups share ``max_size`` evenly, the remainder going to the
    first groups in id order, so groups shrink as new ones arrive. Otherwise every group
    gets ``max_size // total_num_groups`` from the start. ``total_num_groups``, when given,
    is also the most groups the buffer accepts.
    """

    def __init__(
        self,
        max_size: int,
        adaptive_size: bool = True,
        total_num_groups: int | None = None,
    ):
        super().__init__(max_size)
        if total_num_groups is not None:
            positive_int("total_num_groups", total_num_groups)
        if not adaptive_size and total_num_groups is None:
            raise ParameterError("total_num_groups is required when adaptive_size=False")
        self.adaptive_size = adaptive_size
        self.total_num_groups = total_num_groups
        self.buffer_groups: dict[int, ExemplarsBuffer] = {}

    @property
    def buffer(self) -> TensorData:
        """Every group's samples, groups in id order."""
        groups = [self.buffer_groups[gid].buffer for gid in sorted(self.buffer_groups)]
        return TensorData.concat(groups) if groups else empty_tensor_data()

    @buffer.setter
    def buffer(self, data: TensorData) -> None:
        raise TypeError(f"{type(self).__name__} is set through its buffer_groups")

    def __len__(self) -> int:
        return sum(len(group) for group in self.buffer_groups.values())

    def get_group_lengths(self, num_groups: int) -> list[int]:
        """The size of each of ``num_groups`` groups, in group-id order."""
        if self.total_num_groups is not None and num_groups > self.total_num_groups:
            raise ValueError(
                f"{type(self).__name__} was built for {self.total_num_groups} groups "
                f"but now has {num_groups}"
            )
        if num_groups <= 0:
            return []
        if not self.adaptive_size:
            return [self.max_size // self.total_num_groups] * num_groups  # type: ignore[operator]
        share, remainder = divmod(self.max_size, num_groups)
        return [share + (index < remainder) for index in range(num_groups)]

    def target_sizes(self, group_ids: set[int] | list[int]) -> dict[int, int]:
        """Each of ``group_ids`` (existing and new) mapped to its size."""
        ordered = sorted(set(group_ids))
        return dict(zip(ordered, self.get_group_lengths(len(ordered)), strict=True))

    def rebalance(self, strategy: Any) -> None:
        """Resize every group to its share of ``max_size``."""
        for gid, size in self.target_sizes(list(self.buffer_groups)).items():
            self.buffer_groups[gid].resize(strategy, size)

    def resize(self, strategy: Any, new_size: int) -> None:
        self.max_size = non_negative_int("new_size", new_size)
        self.rebalance(strategy)

    @abstractmethod
    def make_group_buffer(self, max_size: int) -> ExemplarsBuffer:
        """An empty buffer for one group (also used to restore groups from a state)."""

    def state_dict(self) -> dict[str, Any]:
        groups = {str(gid): group.state_dict() for gid, group in self.buffer_groups.items()}
        return {"max_size": self.max_size, "groups": groups}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        max_size = _stored_size(state)
        if not isinstance(state.get("groups"), dict):
            raise CheckpointError(f"{type(self).__name__} state lacks its groups")
        groups = {}
        for key, group_state in state["groups"].items():
            group = self.make_group_buffer(_stored_size(group_state))
            group.load_state_dict(group_state)
            groups[int(key)] = group
        self.max_size, self.buffer_groups = max_size, groups


def _stored_size(state: Any) -> int:
    size = state.get("max_size") if isinstance(state, dict) else None
    if not isinstance(size, int):
        raise CheckpointError(f"buffer state lacks an integer max_size: {state!r:.80}")
    return size
