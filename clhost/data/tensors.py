"""Tensor-backed classification data: the fast path for batching, subsetting and replay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor


class TensorData:
    """Inputs ``x``, targets ``y``, task labels ``t`` and optional per-sample extras.

    Extras are named tensors whose first dimension is the sample (e.g. the logits DER
    stores with each exemplar); they follow the samples through ``subset`` and ``concat``
    and are yielded after ``(x, y, t)`` in the order of their names.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        t: Tensor | int = 0,
        extras: Mapping[str, Tensor] | None = None,
    ):
        y = torch.as_tensor(y, dtype=torch.long)
        if not isinstance(t, Tensor):
            t = torch.full((len(y),), int(t), dtype=torch.long)
        self.x, self.y, self.t = x, y, t.long()
        self.extras = dict(sorted((extras or {}).items()))
        self._length = y.shape[0]  # asked per minibatch: spare Tensor.__len__ its overhead
        for name, tensor in (("x", x), ("t", self.t), *self.extras.items()):
            if tensor.shape[0] != self._length:
                raise ValueError(f"{name} has {len(tensor)} rows but y has {self._length}")

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        return (self.x, self.y, self.t, *self.extras.values())

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(tensor[index] for tensor in self.tensors)

    def __repr__(self) -> str:
        extras = f", extras={list(self.extras)}" if self.extras else ""
        return f"TensorData(n={len(self)}, x={tuple(self.x.shape[1:])}{extras})"

    @property
    def targets(self) -> Tensor:
        return self.y

    @property
    def classes(self) -> list[int]:
        return sorted(torch.unique(self.y).tolist())

    @property
    def task_set(self) -> list[int]:
        return sorted(torch.unique(self.t).tolist())

    def subset(self, indices: Tensor | Sequence[int]) -> TensorData:
        """A copy holding only ``indices`` (a real copy: memories never chain views)."""
        index = torch.as_tensor(indices, dtype=torch.long, device=self.y.device)
        return TensorData(
            self.x[index],
            self.y[index],
            self.t[index],
            {name: tensor[index] for name, tensor in self.extras.items()},
        )

    def with_extra(self, name: str, values: Tensor) -> TensorData:
        """The same samples with one more (or a replaced) named extra."""
        return TensorData(self.x, self.y, self.t, {**self.extras, name: values})

    def to(self, device: torch.device | str) -> TensorData:
        return TensorData(
            self.x.to(device),
            self.y.to(device),
            self.t.to(device),
            {name: tensor.to(device) for name, tensor in self.extras.items()},
        )

    def nbytes(self) -> int:
        return sum(tensor.element_size() * tensor.nelement() for tensor in self.tensors)

    @staticmethod
    def concat(parts: Sequence[TensorData]) -> TensorData:
        """All samples of ``parts`` in order; extras are kept when every part has them."""
        parts = [part for part in parts if len(part)] or list(parts[:1])
        if not parts:
            raise ValueError("concat needs at least one TensorData")
        shared = set.intersection(*(set(part.extras) for part in parts))
        return TensorData(
            torch.cat([part.x for part in parts]),
            torch.cat([part.y for part in parts]),
            torch.cat([part.t for part in parts]),
            {name: torch.cat([part.extras[name] for part in parts]) for name in shared},
        )


class TaskLabelled(torch.utils.data.Dataset):
    """Wraps a dataset of ``(x, y)`` samples so it yields ``(x, y, t)`` with a fixed ``t``."""

    def __init__(self, dataset: Any, task_label: int):
        self.dataset, self.task_label = dataset, task_label

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        sample = self.dataset[index]
        return (*sample, self.task_label) if len(sample) == 2 else tuple(sample)


def as_classification_data(data: Any, task_label: int = 0) -> Any:
    """Bring a user's data to a dataset yielding ``(x, y, t)``.

    ``TensorData`` is returned as is; a ``(x, y)`` or ``(x, y, t)`` tuple of tensors and a
    ``torch.utils.data.TensorDataset`` become ``TensorData`` (the fast path); any other
    dataset yielding ``(x, y)`` gets the task label appended per sample.
    """
    if isinstance(data, TensorData):
        return data
    if isinstance(data, torch.utils.data.TensorDataset):
        data = data.tensors
    if isinstance(data, tuple) and all(isinstance(part, Tensor) for part in data):
        if len(data) not in (2, 3):
            raise ValueError("tensor data must be (x, y) or (x, y, t)")
        return TensorData(*data) if len(data) == 3 else TensorData(data[0], data[1], task_label)
    if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
        raise TypeError(f"expected a dataset or a tuple of tensors, got {type(data).__name__}")
    return TaskLabelled(data, task_label)
