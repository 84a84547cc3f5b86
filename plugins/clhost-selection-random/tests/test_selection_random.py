"""Random selection: a permutation of every index, uniform over positions."""

from __future__ import annotations

import torch

from clhost.data import TensorData
from clhost_selection_random import RandomExemplarsSelectionStrategy


def data_of(n: int) -> TensorData:
    return TensorData(torch.zeros(n, 1), torch.zeros(n))


def test_ranks_every_index_once():
    torch.manual_seed(0)
    order = RandomExemplarsSelectionStrategy().make_sorted_indices(None, data_of(50))
    assert sorted(order) == list(range(50)) and order != list(range(50))
    assert RandomExemplarsSelectionStrategy().make_sorted_indices(None, data_of(0)) == []


def test_each_sample_is_equally_likely_to_come_first():
    torch.manual_seed(0)
    selection, trials = RandomExemplarsSelectionStrategy(), 2000
    firsts = torch.zeros(10)
    for _ in range(trials):
        firsts[selection.make_sorted_indices(None, data_of(10))[:3]] += 1
    # Each index is in the first 3 with probability 0.3: 600 +- 20.5 per index.
    assert torch.all((firsts - 600).abs() < 100), firsts


def test_the_global_seed_fixes_the_order():
    selection = RandomExemplarsSelectionStrategy()
    torch.manual_seed(3)
    first = selection.make_sorted_indices(None, data_of(20))
    torch.manual_seed(3)
    assert selection.make_sorted_indices(None, data_of(20)) == first
