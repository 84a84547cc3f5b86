"""What the builders need from any dataset: its targets, its task labels, and parts of it.

Tensor data stays ``TensorData`` (the fast path). Any other torch dataset must yield
``(x, y)`` samples with tensor inputs and expose ``.targets`` (as torchvision datasets do);
its parts are ``torch.utils.data.Subset`` views wrapped in ``TaskLabelled``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset, TensorDataset

from clhost.data import TaskLabelled, TensorData, as_classification_data
from clhost.errors import ParameterError

Transform = Callable[[Tensor], Tensor]


class Mapped(Dataset):
    """A dataset of ``(x, y)`` samples with relabelled targets and/or transformed inputs."""

    def __init__(
        self, dataset: Any, lookup: Tensor | None = None, transform: Transform | None = None
    ):
        self.dataset, self.lookup, self.transform = dataset, lookup, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        x, y = self.dataset[index][:2]
        if self.transform is not None:
            x = self.transform(x.unsqueeze(0))[0]
        if self.lookup is not None:
            y = int(self.lookup[int(y)])
        return x, y


def prepare(data: Any, argument: str) -> Any:
    """Tensors become ``TensorData``; other datasets are checked to expose their targets."""
    if isinstance(data, TensorData | TensorDataset | tuple):
        return as_classification_data(data)
    if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
        raise ParameterError(f"{argument} must be a dataset or a tuple of tensors, got {data!r}")
    targets_of(data, argument)
    return data


def targets_of(dataset: Any, argument: str = "dataset") -> Tensor:
    """The class label of every sample, without loading the inputs."""
    if isinstance(dataset, TensorData):
        return dataset.y
    if isinstance(dataset, Subset):
        return targets_of(dataset.dataset, argument)[torch.as_tensor(dataset.indices)]
    if isinstance(dataset, Mapped):
        targets = targets_of(dataset.dataset, argument)
        return targets if dataset.lookup is None else dataset.lookup[targets]
    if isinstance(dataset, TaskLabelled):
        return targets_of(dataset.dataset, argument)
    declared = getattr(dataset, "targets", None)
    if declared is None:
        raise ParameterError(
            f"{argument} ({type(dataset).__name__}) has no .targets; pass TensorData, a tuple "
            "of tensors, or a dataset exposing the label of each sample as .targets"
        )
    return torch.as_tensor(declared, dtype=torch.long).reshape(-1)


def task_labels_of(dataset: Any) -> Tensor:
    """The task label of every sample; plain ``(x, y)`` datasets are task 0."""
    if isinstance(dataset, TensorData):
        return dataset.t
    if isinstance(dataset, Subset):
        return task_labels_of(dataset.dataset)[torch.as_tensor(dataset.indices)]
    if isinstance(dataset, TaskLabelled):
        return torch.full((len(dataset),), dataset.task_label, dtype=torch.long)
    return torch.zeros(len(dataset), dtype=torch.long)


def input_shape_of(dataset: Any) -> tuple[int, ...]:
    if isinstance(dataset, TensorData):
        return tuple(dataset.x.shape[1:])
    return tuple(torch.as_tensor(dataset[0][0]).shape)


def select(dataset: Any, indices: Tensor) -> Any:
    """The samples of ``dataset`` at ``indices``: a copy for tensors, a ``Subset`` otherwise."""
    if isinstance(dataset, TensorData):
        return dataset.subset(indices)
    return Subset(dataset, indices.tolist())


def part(
    dataset: Any,
    indices: Tensor,
    task: int,
    lookup: Tensor | None = None,
    transform: Transform | None = None,
) -> Any:
    """The samples at ``indices`` with task label ``task``, relabelled through ``lookup``
    and with inputs passed through ``transform`` (applied once, up front, for tensors)."""
    if isinstance(dataset, TensorData):
        chosen = dataset.subset(indices)
        y = chosen.y if lookup is None else lookup[chosen.y]
        x = chosen.x if transform is None else transform(chosen.x)
        return TensorData(x, y, task, chosen.extras)
    subset: Any = Subset(dataset, indices.tolist())
    if lookup is not None or transform is not None:
        subset = Mapped(subset, lookup, transform)
    return TaskLabelled(subset, task)
