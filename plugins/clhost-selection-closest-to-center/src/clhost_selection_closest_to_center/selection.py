"""Closest-to-center selection: the samples nearest the group's mean feature first."""

from __future__ import annotations

import torch
from torch import Tensor

from clhost.rehearsal import FeatureBasedExemplarsSelectionStrategy


class ClosestToCenterSelectionStrategy(FeatureBasedExemplarsSelectionStrategy):
    """Ranks samples by the Euclidean distance of their feature to the group's mean
    feature, nearest first (ties keep data order).

    The most typical samples are kept; unlike herding, the kept set does not try to
    cover the group, so its mean can drift from the group mean. Features are those of
    the layer ``layer_name`` of ``model``.
    """

    def make_sorted_indices_from_features(self, features: Tensor) -> list[int]:
        distances = (features - features.mean(dim=0)).norm(dim=1)
        return torch.argsort(distances, stable=True).tolist()
