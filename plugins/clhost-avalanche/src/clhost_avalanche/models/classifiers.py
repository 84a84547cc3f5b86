"""Avalanche's ``IncrementalClassifier``: clhost's, with Avalanche's masking of units of
classes not trained yet (on by default, as in Avalanche, which changes results)."""

from __future__ import annotations

import torch
from torch import Tensor

from clhost.data import Experience
from clhost.models import IncrementalClassifier as _IncrementalClassifier


class IncrementalClassifier(_IncrementalClassifier):
    """Grows with new classes; with ``masking`` the outputs of classes no training
    experience has brought yet are ``mask_value``, in training and evaluation."""

    active_units: Tensor

    def __init__(
        self,
        in_features: int,
        initial_out_features: int = 2,
        masking: bool = True,
        mask_value: float = -1000,
    ):
        super().__init__(in_features, initial_out_features)
        self.masking, self.mask_value = masking, mask_value
        self.register_buffer("active_units", torch.zeros(initial_out_features, dtype=torch.int8))

    @torch.no_grad()
    def adaptation(self, experience: Experience) -> None:
        super().adaptation(experience)
        active = self.active_units
        if len(active) < self.out_features:
            self.active_units = torch.cat(
                (active, active.new_zeros(self.out_features - len(active)))
            )
        if self.training:
            self.active_units[list(experience.classes_in_this_experience)] = 1

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        if not self.masking:
            return out
        return out.masked_fill(self.active_units == 0, self.mask_value)
