"""Random exemplar selection: every subset of a given size is equally likely to be kept."""

from __future__ import annotations

from typing import Any

import torch

from clhost.data import TensorData
from clhost.rehearsal import ExemplarsSelectionStrategy


class RandomExemplarsSelectionStrategy(ExemplarsSelectionStrategy):
    """Ranks samples in a uniformly random order (torch's global generator).

    Any prefix of the ranking is a uniform random subset, the baseline that feature-based
    selection (herding, closest-to-center) has to beat.
    """

    def make_sorted_indices(self, strategy: Any, data: TensorData) -> list[int]:
        return torch.randperm(len(data)).tolist()
