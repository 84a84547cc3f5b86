"""Herding selection (iCaRL): exemplars whose running mean best tracks the group mean."""

from __future__ import annotations

import torch
from torch import Tensor

from clhost.rehearsal import FeatureBasedExemplarsSelectionStrategy


class HerdingSelectionStrategy(FeatureBasedExemplarsSelectionStrategy):
    """Ranks samples greedily so that the mean of every prefix is as close as possible to
    the mean feature of the whole group (Rebuffi et al. 2017, Algorithm 4).

    Step ``k`` picks, among the samples not yet picked, the one minimising
    ``|| mu - (phi(x) + sum of the k - 1 picked) / k ||``; a buffer that keeps the first
    ``m`` therefore keeps iCaRL's exemplar set of size ``m``. Features are those of the
    layer ``layer_name`` of ``model``, used as given (normalise them in the model if the
    method calls for it, as iCaRL does).
    """

    def make_sorted_indices_from_features(self, features: Tensor) -> list[int]:
        features = features.double()  # exact comparisons when sums grow
        n = len(features)
        mean = features.mean(dim=0)
        squared_norms = (features * features).sum(dim=1)
        picked_sum = torch.zeros_like(mean)
        taken = torch.zeros(n, dtype=torch.bool, device=features.device)
        order = torch.empty(n, dtype=torch.long, device=features.device)
        for k in range(1, n + 1):
            # || k mu - picked_sum - phi(x) ||^2 up to a constant: one matrix-vector product.
            target = k * mean - picked_sum
            distances = squared_norms - 2 * features @ target
            index = distances.masked_fill(taken, float("inf")).argmin()
            order[k - 1] = index
            taken[index] = True
            picked_sum += features[index]
        return order.tolist()
