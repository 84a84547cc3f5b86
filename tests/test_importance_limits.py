"""Quadratic penalties never ask plain SGD for a step that overshoots their centre."""

from __future__ import annotations

import pytest
import torch

from clhost.importance import QuadraticPenalty, sgd_weight_limits


def penalty_for(optimizer_class, weight, **optimizer_options):
    theta = torch.nn.Parameter(torch.tensor([1.0, 1.0, 1.0]))
    optimizer = optimizer_class([theta], **optimizer_options)
    anchors = {"theta": torch.zeros(3)}
    penalty = QuadraticPenalty(
        {"theta": theta}, [(anchors, {"theta": weight})], scale=2.0, optimizer=optimizer
    )
    return theta, optimizer, penalty


def test_plain_sgd_caps_each_weight_where_one_step_lands_on_the_centre():
    weight = torch.tensor([0.5, 1e4, 0.0])  # times scale 2: 1, 2e4 and 0
    theta, optimizer, penalty = penalty_for(torch.optim.SGD, weight, lr=0.1)
    torch.testing.assert_close(penalty.weights[0], torch.tensor([1.0, 5.0, 0.0]))
    penalty().backward()
    optimizer.step()
    # 1 - 2 lr w: 0.8 for the soft weight, 0 (on the centre) for the capped one; uncapped,
    # the second would have gone to 1 - 4000 and on to inf within a few steps
    torch.testing.assert_close(theta.detach(), torch.tensor([0.8, 0.0, 1.0]))


def test_adaptive_optimizers_keep_the_penalty_as_it_is():
    weight = torch.tensor([0.5, 1e4, 0.0])
    _, _, penalty = penalty_for(torch.optim.Adam, weight, lr=0.1)
    torch.testing.assert_close(penalty.weights[0], weight * 2)
    assert sgd_weight_limits(torch.optim.Adam([torch.nn.Parameter(torch.ones(1))])) == {}


def test_each_parameter_group_has_its_own_limit_and_momentum_counts_as_sgd():
    fast, slow = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    frozen = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD(
        [{"params": [fast], "lr": 0.5}, {"params": [slow]}, {"params": [frozen], "lr": 0.0}],
        lr=0.01,
        momentum=0.9,
    )
    assert sgd_weight_limits(optimizer) == {id(fast): 1.0, id(slow): 50.0}


def test_a_capped_merged_penalty_keeps_its_centre_and_a_consistent_value():
    """Capping acts as if every stored set's weights were scaled down alike: the centre
    stays, and the value is the capped per-set sum."""
    theta = torch.nn.Parameter(torch.tensor([3.0, -1.0]))
    optimizer = torch.optim.SGD([theta], lr=0.25)  # limit 2
    sets = [
        ({"theta": torch.tensor([0.0, 1.0])}, {"theta": torch.tensor([4.0, 0.5])}),
        ({"theta": torch.tensor([2.0, 3.0])}, {"theta": torch.tensor([4.0, 0.5])}),
    ]
    penalty = QuadraticPenalty({"theta": theta}, sets, optimizer=optimizer)
    ratio = torch.tensor([2.0 / 8.0, 1.0])  # the first element's total weight 8 is capped at 2
    expected = sum(
        (ratio * weights["theta"] * (theta.detach() - anchors["theta"]) ** 2).sum()
        for anchors, weights in sets
    )
    torch.testing.assert_close(penalty().detach(), expected)
    torch.testing.assert_close(penalty.centres[0], torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("lr", [0.1, 1.0])
def test_a_stiff_penalty_under_sgd_holds_the_parameter_instead_of_diverging(lr):
    theta, optimizer, penalty = penalty_for(torch.optim.SGD, torch.full((3,), 1e6), lr=lr)
    for _ in range(50):
        optimizer.zero_grad()
        penalty().backward()
        optimizer.step()
    assert torch.isfinite(theta).all() and theta.abs().max() < 1e-6
