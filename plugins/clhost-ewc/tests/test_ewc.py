"""EWC: the Fisher it estimates, the penalty it adds, its state, and that it forgets less."""

from __future__ import annotations

import copy
import functools

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from clhost import testing as kit
from clhost.data import Experience, TensorData
from clhost.errors import CheckpointError
from clhost.importance import AnchorSums, QuadraticPenalty
from clhost.models import SimpleMLP
from clhost.testing import strategy_for as adam_strategy_for
from clhost_ewc import EWC, EWCPlugin

strategy_for = functools.partial(adam_strategy_for, optimizer="sgd", lr=0.1)
"""EWC's tests train with plain SGD at lr 0.1 unless they say otherwise."""


# -- parameters ----------------------------------------------------------------------


def test_bad_parameters_get_one_clear_error():
    kit.assert_refuses(
        EWCPlugin,
        {"ewc_lambda": -1.0},
        {"ewc_lambda": float("nan")},
        ({"ewc_lambda": 1.0, "mode": "onlin"}, "mode"),
        ({"ewc_lambda": 1.0, "mode": "online"}, "decay_factor is required"),
        ({"ewc_lambda": 1.0, "mode": "online", "decay_factor": 1.5}, "decay_factor"),
        ({"ewc_lambda": 1.0, "decay_factor": 0.5}, "only to mode='online'"),
        ({"ewc_lambda": 1.0, "keep_importance_data": "yes"}, "keep_importance_data"),
    )


def test_registered_and_strategy_puts_its_plugin_first():
    strategy = kit.assert_builds_its_plugin_first(
        EWC, EWCPlugin, entry_point="ewc", ewc_lambda=5.0, mode="online", decay_factor=0.5
    )
    with pytest.raises(TypeError, match="ewc_lamda"):
        EWC(model=strategy.model, optimizer=strategy.optimizer, ewc_lamda=1.0)


def test_fisher_is_the_mean_of_squared_minibatch_gradients_of_the_log_likelihood():
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]])
    y = torch.tensor([0, 1, 1])
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -1.0], [2.0, 0.25]]))
        model.bias.copy_(torch.tensor([0.1, -0.2]))
    experience = Experience(TensorData(x, y), 0, classes_in_this_experience=(0, 1))
    plugin = EWCPlugin(ewc_lambda=1.0)
    # lr=0 keeps the parameters where they are, so the Fisher is taken at known values
    strategy_for(model, [plugin], lr=0.0, train_mb_size=2).train(experience)

    def minibatch_gradients(rows):
        logits = x[rows] @ model.weight.detach().T + model.bias.detach()
        error = torch.softmax(logits, dim=1) - torch.eye(2)[y[rows]]  # d CE / d logits
        return error.T @ x[rows] / len(rows), error.mean(dim=0)

    (w1, b1), (w2, b2) = minibatch_gradients([0, 1]), minibatch_gradients([2])
    fisher = plugin.importances[0]
    torch.testing.assert_close(fisher["weight"], (w1**2 + w2**2) / 2)
    torch.testing.assert_close(fisher["bias"], (b1**2 + b2**2) / 2)
    torch.testing.assert_close(plugin.saved_params[0]["weight"], model.weight.detach())


def test_separate_mode_keeps_every_experience_and_online_mode_decays_one_fisher():
    benchmark = kit.toy_benchmark(n_experiences=3, classes_per_experience=2)
    model = SimpleMLP(6, 8, (8,))

    def trained(plugin):  # lr=0: every experience's Fisher is taken at the same parameters
        strategy_for(copy.deepcopy(model), [plugin], lr=0.0).train(benchmark.train_stream)
        return plugin

    separate = trained(EWCPlugin(ewc_lambda=1.0))
    online = trained(EWCPlugin(ewc_lambda=1.0, mode="online", decay_factor=0.5))
    kept = trained(
        EWCPlugin(ewc_lambda=1.0, mode="online", decay_factor=0.5, keep_importance_data=True)
    )
    assert sorted(separate.importances) == sorted(separate.saved_params) == [0, 1, 2]
    assert separate.penalised_experiences() == [0, 1, 2]
    assert sorted(online.importances) == [2] and online.penalised_experiences() == [2]
    assert sorted(kept.importances) == [0, 1, 2] and kept.penalised_experiences() == [2]
    f0, f1, f2 = (separate.importances[k] for k in range(3))
    for name, value in online.importances[2].items():
        torch.testing.assert_close(value, f2[name] + 0.5 * f1[name] + 0.25 * f0[name])
        torch.testing.assert_close(kept.importances[1][name], f1[name] + 0.5 * f0[name])


@pytest.mark.parametrize(
    "options, pulled",
    [({}, (0, 1)), ({"mode": "online", "decay_factor": 0.5, "keep_importance_data": True}, (1,))],
    ids=["separate-mode-sums-every-experience", "online-mode-pulls-to-the-latest"],
)
def test_penalty_is_the_fisher_weighted_distance_to_what_is_stored(options, pulled):
    benchmark = kit.toy_benchmark(n_experiences=3, classes_per_experience=2)
    torch.manual_seed(1)
    plugin, probe = EWCPlugin(ewc_lambda=3.0, **options), kit.LossTermProbe("ewc")
    strategy = strategy_for(SimpleMLP(6, 8, (8,)), [plugin, probe], train_mb_size=100)
    strategy.train(benchmark.train_stream[:2])
    params = {name: p.detach().clone() for name, p in strategy.model.named_parameters()}
    strategy.train(benchmark.train_stream[2])  # one minibatch: the term is taken at `params`
    expected = sum(
        (plugin.importances[k][name] * (params[name] - plugin.saved_params[k][name]) ** 2).sum()
        for k in pulled
        for name in params
    )
    assert probe.values[-1][1] == pytest.approx(1.5 * float(expected), rel=1e-5)


def test_running_sums_give_the_per_experience_penalty_exactly():
    """Float64: the penalty from running sums equals sum_k F_k (theta - theta*_k)^2 in value
    and gradient, including a parameter that grew after the first experiences."""
    generator = torch.Generator().manual_seed(0)

    def tensors(rows):
        return {
            "w": torch.randn(rows, 3, generator=generator, dtype=torch.float64),
            "b": torch.randn(rows, generator=generator, dtype=torch.float64),
        }

    stored = [(tensors(rows), {k: v.abs() for k, v in tensors(rows).items()}) for rows in (2, 2, 4)]
    theta = {k: v.requires_grad_() for k, v in tensors(4).items()}
    sums = AnchorSums()
    for anchors, fisher in stored:
        sums.add(anchors, fisher)
    penalty = QuadraticPenalty(theta, sums, scale=0.5)
    expected = 0.5 * sum(
        (fisher[k] * (theta[k][: len(anchors[k])] - anchors[k]) ** 2).sum()
        for anchors, fisher in stored
        for k in theta
    )
    value = penalty()
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-12)
    got = torch.autograd.grad(value, list(theta.values()))
    want = torch.autograd.grad(expected, list(theta.values()))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


class OperationCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def test_starting_an_experience_costs_the_same_however_many_are_stored():
    """The penalty is built from running sums, not from every stored experience."""
    benchmark = kit.toy_benchmark(n_experiences=6, classes_per_experience=1)
    counts = []
    for stored in (2, 5):
        plugin = EWCPlugin(ewc_lambda=1.0)
        strategy = strategy_for(SimpleMLP(6, 8, (8,)), [plugin])
        strategy.train(benchmark.train_stream[:stored])
        with OperationCounter() as counter:
            plugin.clhost_before_training_exp(strategy)
        counts.append(counter.count)
    assert counts[0] == counts[1], counts


def test_keeps_the_penalty_contract():
    plugin = kit.assert_penalty_contract(
        lambda: EWCPlugin(ewc_lambda=100.0), "ewc", optimizer="sgd", lr=0.1
    )
    assert "classifier.heads.1.weight" not in plugin.saved_params[0]


def test_state_round_trips_and_a_resumed_run_matches():
    restored = kit.assert_plugin_resumes(
        lambda: EWCPlugin(ewc_lambda=50.0), optimizer="sgd", lr=0.1
    )
    assert sorted(restored.importances) == sorted(restored.saved_params) == [0, 1, 2]
    with pytest.raises(CheckpointError, match="mode"):
        EWCPlugin(ewc_lambda=1.0, mode="online", decay_factor=0.5).load_state_dict(
            restored.state_dict()
        )


# -- effect --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario, ewc_lambda",
    [("task-incremental-split-digits", 1000.0), ("permuted-digits", 3000.0)],
)
def test_forgets_less_than_finetuning(scenario, ewc_lambda):
    kit.assert_forgets_less(EWC, scenario, ewc_lambda=ewc_lambda)
