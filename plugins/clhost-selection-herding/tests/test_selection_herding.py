"""Herding: hand-computed orders, prefix means that track the group mean, the model pass."""

from __future__ import annotations

import torch
from torch import nn

from clhost.data import TensorData
from clhost_selection_herding import HerdingSelectionStrategy


def herding() -> HerdingSelectionStrategy:
    return HerdingSelectionStrategy(nn.Sequential(nn.Identity()), "0")


def test_order_on_four_points_computed_by_hand():
    # mean (1, .75). k=1: (1,1) is nearest the mean. k=2: target 2mu-(1,1) = (1,.5) -> (0,0).
    # k=3: target 3mu-(1,1) = (2,1.25): (3,0) at 2.56 beats (0,2) at 4.56. Then (0,2).
    features = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    assert herding().make_sorted_indices_from_features(features) == [3, 0, 1, 2]


def test_order_on_a_line_computed_by_hand():
    # mean 3: 4 first (|4-3|=1); target 6-4=2 -> 1; target 9-5=4 -> 7; then 0.
    features = torch.tensor([[0.0, 0.0], [1.0, 0.0], [4.0, 0.0], [7.0, 0.0]])
    assert herding().make_sorted_indices_from_features(features) == [2, 1, 3, 0]


def prefix_error(features: torch.Tensor, order: list[int], k: int) -> float:
    return (features[order[:k]].mean(dim=0) - features.mean(dim=0)).norm().item()


def test_every_prefix_mean_is_closer_to_the_group_mean_than_a_random_prefix():
    torch.manual_seed(0)
    features = torch.distributions.Exponential(1.0).sample((300, 5))  # skewed group
    order = herding().make_sorted_indices_from_features(features)
    assert sorted(order) == list(range(300))
    for k in (5, 10, 20, 50):
        random_errors = [prefix_error(features, torch.randperm(300).tolist(), k) for _ in range(50)]
        assert prefix_error(features, order, k) < min(random_errors) / 2, k


def test_features_come_from_the_named_layer_of_the_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    data = TensorData(torch.randn(40, 3), torch.zeros(40))
    selection = HerdingSelectionStrategy(model, "1", batch_size=7)
    expected = selection.make_sorted_indices_from_features(model[1](model[0](data.x)).detach())
    assert selection.make_sorted_indices(None, data) == expected
