"""Closest-to-center: hand-computed orders and the model pass."""

from __future__ import annotations

import torch
from torch import nn

from clhost.data import TensorData
from clhost_selection_closest_to_center import ClosestToCenterSelectionStrategy


def closest() -> ClosestToCenterSelectionStrategy:
    return ClosestToCenterSelectionStrategy(nn.Sequential(nn.Identity()), "0")


def test_order_on_four_points_computed_by_hand():
    # mean (1, .75); squared distances: (0,0) 1.5625, (3,0) 4.5625, (0,2) 2.5625, (1,1) .0625
    features = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    assert closest().make_sorted_indices_from_features(features) == [3, 0, 2, 1]


def test_ties_keep_data_order():
    # mean (0, 0): the four corners are equally far, the origin is nearest.
    features = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [0.0, 0.0], [1.0, -1.0], [-1.0, -1.0]])
    assert closest().make_sorted_indices_from_features(features) == [2, 0, 1, 3, 4]


def test_features_come_from_the_named_layer_of_the_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    data = TensorData(torch.randn(30, 3), torch.zeros(30))
    selection = ClosestToCenterSelectionStrategy(model, "0", batch_size=4)
    expected = selection.make_sorted_indices_from_features(model[0](data.x).detach())
    assert selection.make_sorted_indices(None, data) == expected
