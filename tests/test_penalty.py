"""QuadraticPenaltyPlugin: the shared body of EWC, MAS, RWalk and SI, on a toy method."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from clhost import hookimpl
from clhost.errors import CheckpointError, ParameterError
from clhost.importance import ParamTensors, detached_copy
from clhost.penalty import AnchorSets, QuadraticPenaltyPlugin
from clhost.testing import (
    LossTermProbe,
    assert_penalty_contract,
    state_round_trip,
    strategy_for,
    toy_benchmark,
)


class Stiff(QuadraticPenaltyPlugin):
    """Importance 1e6 everywhere: far stiffer than a step of lr 0.1 can follow."""

    term_name = "stiff"
    state_tensors = ("anchors", "importance")

    def __init__(self, *, sgd_weight_cap: bool = True):
        super().__init__(sgd_weight_cap=sgd_weight_cap)
        self.anchors: ParamTensors = {}
        self.importance: ParamTensors = {}

    def penalty_scale(self) -> float:
        return 1.0

    def anchor_sets(self) -> AnchorSets:
        return [(self.anchors, self.importance)]

    def consolidate(self, strategy: Any) -> None:
        params = self.penalised_parameters(strategy.model)
        self.anchors = detached_copy(params)
        self.importance = {name: torch.full_like(p, 1e6) for name, p in params.items()}


def first_penalty_weight(plugin: Stiff, model: nn.Module, optimizer: str) -> float:
    torch.manual_seed(0)
    stream = toy_benchmark(n_experiences=2, classes_per_experience=2).train_stream
    strategy = strategy_for(model, [plugin], optimizer=optimizer, lr=0.1)
    strategy.train(stream[0])
    plugin.clhost_before_training_exp(strategy)
    assert plugin._penalty is not None
    return plugin._penalty.weights[0].max().item()


@pytest.mark.parametrize(
    "cap, optimizer, weight",
    [(True, "sgd", 1 / (2 * 0.1)), (False, "sgd", 1e6), (True, "adam", 1e6)],
    ids=["capped-with-sgd", "opted-out", "never-with-adam"],
)
def test_the_sgd_weight_cap_is_an_explicit_option(cap, optimizer, weight):
    plugin = Stiff(sgd_weight_cap=cap)
    got = first_penalty_weight(plugin, nn.Linear(8, 4), optimizer)
    assert got == pytest.approx(weight)


def test_the_term_is_added_from_the_second_experience_and_state_round_trips():
    torch.manual_seed(0)
    stream = toy_benchmark(n_experiences=2, classes_per_experience=2).train_stream
    plugin, probe = Stiff(), LossTermProbe("stiff")
    strategy_for(nn.Linear(8, 4), [plugin, probe], optimizer="adam").train(stream)
    assert {exp for exp, value in probe.values if value > 0} == {1}
    restored = state_round_trip(plugin, Stiff())
    assert restored.anchors.keys() == plugin.anchors.keys() == {"weight", "bias"}
    assert all(torch.equal(restored.anchors[n], plugin.anchors[n]) for n in plugin.anchors)
    with pytest.raises(CheckpointError, match="Stiff state lacks importance"):
        Stiff().load_state_dict({"anchors": {}})
    with pytest.raises(CheckpointError, match="Stiff anchors must map"):
        Stiff().load_state_dict({"anchors": [1], "importance": {}})


def test_sgd_weight_cap_must_be_a_bool():
    with pytest.raises(ParameterError, match="sgd_weight_cap"):
        Stiff(sgd_weight_cap="yes")  # type: ignore[arg-type]


def test_the_base_keeps_the_penalty_contract():
    plugin = assert_penalty_contract(Stiff, "stiff")
    assert "classifier.heads.1.weight" in plugin.anchors  # stored once trained


class PullsEverything:
    """A wrong penalty: it pulls every parameter towards zero from the start."""

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> tuple[str, torch.Tensor]:
        return "wrong", sum((p * p).sum() for p in strategy.model.parameters())


def test_the_contract_catches_a_penalty_on_what_was_never_stored():
    with pytest.raises(AssertionError):
        assert_penalty_contract(PullsEverything, "wrong")
