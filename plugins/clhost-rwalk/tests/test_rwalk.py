"""RWalk: its online Fisher and path scores, the penalty, its state, and that it forgets less."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from clhost import testing as kit
from clhost.data import Experience, TensorData
from clhost.errors import CheckpointError
from clhost.models import SimpleMLP
from clhost_rwalk import RWalk, RWalkPlugin
from clhost_rwalk.plugin import SCORE_EPS

# -- parameters ----------------------------------------------------------------------


def test_bad_parameters_get_one_clear_error():
    kit.assert_refuses(
        RWalkPlugin,
        {"ewc_lambda": -1.0},
        {"ewc_alpha": 0.0},
        {"ewc_alpha": 1.1},
        {"delta_t": 0},
        {"delta_t": 2.5},
    )


def test_registered_and_strategy_puts_its_plugin_first():
    kit.assert_builds_its_plugin_first(
        RWalk, RWalkPlugin, entry_point="rwalk", ewc_lambda=2.0, ewc_alpha=0.5, delta_t=3
    )


def two_sgd_steps(delta_t: int) -> tuple[RWalkPlugin, list, list, list]:
    """Train a 2x2 linear model for two plain SGD steps on one sample; return the plugin,
    the parameters before and after each step and the gradients of both steps."""
    x, y = torch.tensor([[1.0, 2.0]]), torch.tensor([1])
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -1.0], [0.25, 0.3]]))
        model.bias.copy_(torch.tensor([0.1, -0.2]))
    theta0 = [model.weight.detach().clone(), model.bias.detach().clone()]
    plugin = RWalkPlugin(ewc_lambda=1.0, ewc_alpha=0.9, delta_t=delta_t)
    experience = Experience(TensorData(x, y), 0, classes_in_this_experience=(0, 1))
    kit.strategy_for(
        model, [plugin], optimizer="sgd", lr=0.5, train_mb_size=1, train_epochs=2
    ).train(experience)

    def gradient(weight, bias):  # cross-entropy: d/d logits = softmax - one_hot
        error = torch.softmax(x @ weight.T + bias, dim=1) - torch.eye(2)[y]
        return [error.T @ x, error[0]]

    g0 = gradient(*theta0)
    theta1 = [t - 0.5 * g for t, g in zip(theta0, g0, strict=True)]
    g1 = gradient(*theta1)
    theta2 = [t - 0.5 * g for t, g in zip(theta1, g1, strict=True)]
    return plugin, [theta0, theta1, theta2], [g0, g1]


@pytest.mark.parametrize("delta_t", [1, 2, 3])
def test_fisher_and_scores_match_a_hand_computation(delta_t):
    plugin, (theta0, theta1, theta2), (g0, g1) = two_sgd_steps(delta_t)
    for index, name in enumerate(("weight", "bias")):
        fisher1 = 0.9 * g0[index] ** 2  # EWC++ after each step, from zero
        fisher2 = 0.9 * g1[index] ** 2 + 0.1 * fisher1
        step0, step1 = theta1[index] - theta0[index], theta2[index] - theta1[index]

        def score(path, moved, fisher):
            return (path / (0.5 * fisher * moved**2 + SCORE_EPS)).clamp(min=0)

        if delta_t == 1:  # one interval per step
            expected = score(-g0[index] * step0, step0, fisher1) + score(
                -g1[index] * step1, step1, fisher2
            )
        else:  # one interval over both steps (delta_t=3: the unfinished one is closed)
            path = -g0[index] * step0 - g1[index] * step1
            expected = score(path, theta2[index] - theta0[index], fisher2)
        assert expected.abs().sum() > 0
        torch.testing.assert_close(plugin.scores[name], expected)
        torch.testing.assert_close(plugin.fisher[name], fisher2)
        torch.testing.assert_close(plugin.running_fisher[name], fisher2)
        torch.testing.assert_close(plugin.anchors[name], theta2[index])


def test_penalty_weighs_distance_by_normalised_fisher_plus_score():
    torch.manual_seed(1)
    benchmark = kit.toy_benchmark(n_experiences=2, classes_per_experience=2)
    plugin, probe = RWalkPlugin(ewc_lambda=3.0), kit.LossTermProbe("rwalk")
    strategy = kit.strategy_for(SimpleMLP(4, 8, (8,)), [plugin, probe], train_mb_size=100)
    strategy.train(benchmark.train_stream[0])
    fisher, scores, anchors = plugin.fisher, plugin.scores, plugin.anchors

    def normalised(tensors):
        low = min(t.min() for t in tensors.values())
        high = max(t.max() for t in tensors.values())
        return {name: (t - low) / (high - low) for name, t in tensors.items()}

    with torch.no_grad():  # move away from the anchors so the penalty is not zero
        for param in strategy.model.parameters():
            param.add_(0.1)
    params = {name: p.detach().clone() for name, p in strategy.model.named_parameters()}
    strategy.train(benchmark.train_stream[1])  # one minibatch: the term is taken at `params`
    fisher_n, scores_n = normalised(fisher), normalised(scores)
    expected = sum(
        ((fisher_n[name] + scores_n[name]) * (params[name] - anchors[name]) ** 2).sum()
        for name in params
    )
    assert probe.values[-1][1] == pytest.approx(3.0 * float(expected), rel=1e-5)


def test_keeps_the_penalty_contract():
    plugin = kit.assert_penalty_contract(lambda: RWalkPlugin(ewc_lambda=1.0), "rwalk")
    assert plugin.scores["classifier.heads.1.weight"].sum() > 0


def test_state_round_trips_and_a_resumed_run_matches():
    restored = kit.assert_plugin_resumes(lambda: RWalkPlugin(ewc_lambda=1.0, delta_t=3))
    for kind in ("fisher", "scores", "running_fisher"):
        assert getattr(restored, kind).keys() == restored.anchors.keys() and restored.anchors
    with pytest.raises(CheckpointError, match="running_fisher"):
        RWalkPlugin().load_state_dict({"anchors": {}, "fisher": {}, "scores": {}})


# -- effect --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario, ewc_lambda",
    [("task-incremental-split-digits", 0.3), ("permuted-digits", 1.0)],
)
def test_forgets_less_than_finetuning(scenario, ewc_lambda):
    kit.assert_forgets_less(RWalk, scenario, ewc_lambda=ewc_lambda)
