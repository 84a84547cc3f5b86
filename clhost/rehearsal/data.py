"""What buffers read from a strategy, and how the samples they hold are saved."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from clhost.data import Experience, TensorData, experience_data
from clhost.errors import CheckpointError


def experience_tensors(experience: Experience) -> TensorData:
    """The samples of ``experience`` as ``TensorData``, for memories to hold.

    Tensor data is returned as is; any other dataset is read once into tensors, because
    buffers hold tensors and never chains of dataset views.
    """
    return to_tensor_data(experience_data(experience))


def to_tensor_data(dataset: Any) -> TensorData:
    """``dataset`` (yielding ``(x, y, t)``) as ``TensorData``, stacking samples if needed."""
    if isinstance(dataset, TensorData):
        return dataset
    samples = [dataset[index] for index in range(len(dataset))]
    if not samples:
        return empty_tensor_data()
    x = torch.stack([torch.as_tensor(sample[0]) for sample in samples])
    y = torch.tensor([int(sample[1]) for sample in samples], dtype=torch.long)
    t = torch.tensor([int(sample[2]) for sample in samples], dtype=torch.long)
    return TensorData(x, y, t)


def empty_tensor_data() -> TensorData:
    """A buffer's content before it has seen data (concatenation skips it)."""
    return TensorData(torch.empty(0), torch.empty(0, dtype=torch.long))


def tensor_data_state(data: TensorData) -> dict[str, Any]:
    """``data`` as a checkpoint-safe dict of tensors."""
    return {"x": data.x, "y": data.y, "t": data.t, "extras": dict(data.extras)}


def tensor_data_from_state(state: Any) -> TensorData:
    """The inverse of ``tensor_data_state``."""
    try:
        x, y, t, extras = state["x"], state["y"], state["t"], state["extras"]
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"buffer state lacks stored samples: {error!r}") from None
    if not all(isinstance(tensor, Tensor) for tensor in (x, y, t, *extras.values())):
        raise CheckpointError("buffer state must hold tensors")
    return TensorData(x, y, t, extras)
