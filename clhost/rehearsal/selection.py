"""Exemplar selection: rank the samples of a group so a buffer keeps the best prefix."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor, nn

from clhost.data import TensorBatchLoader, TensorData
from clhost.errors import ParameterError, UnknownNameError
from clhost.models.dynamic import forward_with_tasks


class ExemplarsSelectionStrategy(ABC):
    """Decides which samples of a group a buffer keeps when it cannot keep them all."""

    @abstractmethod
    def make_sorted_indices(self, strategy: Any, data: TensorData) -> list[int]:
        """Every index of ``data``, the most important first.

        ``strategy`` may be ``None`` when a buffer is filled without one.
        """


class FeatureBasedExemplarsSelectionStrategy(ExemplarsSelectionStrategy):
    """Ranks samples by the features ``model`` computes at the layer ``layer_name``.

    Features are read with a forward hook, in eval mode and without gradients, in batches
    of ``batch_size`` on the strategy's device (the model's when there is no strategy);
    the model's training mode is restored afterwards.
    """

    def __init__(self, model: nn.Module, layer_name: str, batch_size: int = 256):
        layers = dict(model.named_modules())
        if layer_name not in layers:
            raise UnknownNameError("layer", layer_name, [name for name in layers if name])
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model, self.layer_name, self.batch_size = model, layer_name, batch_size

    def make_sorted_indices(self, strategy: Any, data: TensorData) -> list[int]:
        if len(data) == 0:
            return []
        return self.make_sorted_indices_from_features(self.extract_features(strategy, data))

    @abstractmethod
    def make_sorted_indices_from_features(self, features: Tensor) -> list[int]:
        """Every row index of ``features`` (samples x dims), the most important first."""

    @torch.no_grad()
    def extract_features(self, strategy: Any, data: TensorData) -> Tensor:
        """The flattened output of the layer for every sample of ``data``, in order."""
        model = self.model
        device = getattr(strategy, "device", None) or _device_of(model)
        captured: list[Tensor] = []

        def capture(module: nn.Module, inputs: Any, output: Any) -> None:
            if not isinstance(output, Tensor):
                raise TypeError(f"layer {self.layer_name!r} must output a tensor")
            captured.append(output.flatten(1))

        handle = model.get_submodule(self.layer_name).register_forward_hook(capture)
        was_training = model.training
        model.eval()
        try:
            for batch in TensorBatchLoader(data, self.batch_size):
                x, t = batch[0].to(device), batch[2].to(device)
                forward_with_tasks(model, x, t)
        finally:
            handle.remove()
            model.train(was_training)
        return torch.cat(captured)


def _device_of(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
