"""iCaRL's exemplar sets: per class, the herding order of L2-normalised features."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.nn import functional as F

from clhost.data import TensorData
from clhost.errors import ParameterError
from clhost.validate import boolean, positive_int
from clhost_buffer_parametric import ParametricBuffer
from clhost_selection_herding import HerdingSelectionStrategy


class NormalizedHerding(HerdingSelectionStrategy):
    """Herding (iCaRL's ConstructExemplarSet) on the L2-normalised output of the layer
    ``layer_name`` of the strategy's model.

    The model is the one of the strategy passed to ``make_sorted_indices`` (read at every
    call), so the selection follows the model a strategy trains and can be built before
    that model is known.
    """

    def __init__(self, layer_name: str = "features", batch_size: int = 256):
        if not isinstance(layer_name, str) or not layer_name:
            raise ParameterError(f"layer_name must be a non-empty string, got {layer_name!r}")
        self.model: Any = None
        self.layer_name, self.batch_size = layer_name, positive_int("batch_size", batch_size)

    def make_sorted_indices(self, strategy: Any, data: TensorData) -> list[int]:
        if strategy is None:
            raise ValueError("iCaRL herding needs the strategy whose model computes features")
        self.model = strategy.model
        return super().make_sorted_indices(strategy, data)

    def make_sorted_indices_from_features(self, features: Tensor) -> list[int]:
        return super().make_sorted_indices_from_features(F.normalize(features, dim=1))


class ICaRLMemory(ParametricBuffer):
    """One exemplar set per class, each a prefix of its herding order.

    With ``fixed_memory`` the ``memory_size`` exemplars are shared by the classes seen:
    ``memory_size // classes`` each, and old sets shrink by dropping their last exemplars
    (ReduceExemplarSet). Otherwise every class keeps ``memory_size`` exemplars.
    """

    def __init__(self, memory_size: int, fixed_memory: bool = True, layer_name: str = "features"):
        positive_int("memory_size (iCaRL classifies by exemplars)", memory_size)
        boolean("fixed_memory", fixed_memory)
        selection = NormalizedHerding(layer_name)
        super().__init__(memory_size, groupby="class", selection_strategy=selection)
        self.fixed_memory = fixed_memory

    def get_group_lengths(self, num_groups: int) -> list[int]:
        if num_groups <= 0:
            return []
        per_class = self.max_size // num_groups if self.fixed_memory else self.max_size
        if per_class < 1:
            raise ParameterError(
                f"memory_size={self.max_size} leaves no exemplar for each of {num_groups} "
                "classes; iCaRL needs at least one per class (raise memory_size)"
            )
        return [per_class] * num_groups

    @property
    def exemplar_sets(self) -> dict[int, TensorData]:
        """Each class seen mapped to its exemplars, in herding order."""
        return {label: self.buffer_groups[label].buffer for label in sorted(self.buffer_groups)}
