"""MAS: the importance it estimates, the penalty it adds, its state, and that it forgets less."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from clhost import testing as kit
from clhost.benchmarks import split_digits
from clhost.data import Experience, TensorData
from clhost.errors import CheckpointError
from clhost.models import SimpleMLP
from clhost_mas import MAS, MASPlugin

# -- parameters ----------------------------------------------------------------------


def test_bad_parameters_get_one_clear_error():
    kit.assert_refuses(
        MASPlugin,
        {"lambda_reg": -1.0},
        {"alpha": 1.5},
        {"alpha": "half"},
    )


def test_registered_and_strategy_puts_its_plugin_first():
    kit.assert_builds_its_plugin_first(
        MAS, MASPlugin, entry_point="mas", lambda_reg=2.0, alpha=0.25
    )


def linear_model() -> nn.Linear:
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -1.0], [2.0, 0.25]]))
        model.bias.copy_(torch.tensor([0.1, -0.2]))
    return model


def hand_importance(model: nn.Linear, x: torch.Tensor, batches: list[list[int]]):
    """Mean over minibatches of |d mean_i ||W x_i + b||^2 / d (W, b)|, written out."""
    weight, bias = model.weight.detach(), model.bias.detach()
    weights, biases = [], []
    for rows in batches:
        outputs = x[rows] @ weight.T + bias  # d ||f||^2 / d f = 2 f
        weights.append((2 * outputs.T @ x[rows] / len(rows)).abs())
        biases.append((2 * outputs.mean(dim=0)).abs())
    return sum(weights) / len(batches), sum(biases) / len(batches)


def test_importance_is_the_mean_absolute_gradient_of_the_squared_output_norm():
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]])
    experience = Experience(
        TensorData(x, torch.tensor([0, 1, 1])), 0, classes_in_this_experience=(0, 1)
    )
    model = linear_model()
    plugin = MASPlugin(lambda_reg=1.0)
    # lr=0 keeps the parameters where they are, so the importance is taken at known values
    kit.strategy_for(model, [plugin], lr=0.0, train_mb_size=2).train(experience)
    weight, bias = hand_importance(model, x, [[0, 1], [2]])
    torch.testing.assert_close(plugin.importance["weight"], weight)
    torch.testing.assert_close(plugin.importance["bias"], bias)
    torch.testing.assert_close(plugin.anchors["weight"], model.weight.detach())


def test_importances_of_experiences_are_blended_with_alpha():
    first, second = torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([[3.0, 1.0], [-2.0, 0.5]])
    y = torch.tensor([0, 1])
    stream = [
        Experience(TensorData(x, y), index, classes_in_this_experience=(0, 1))
        for index, x in enumerate((first, second))
    ]
    model = linear_model()
    plugin = MASPlugin(lambda_reg=1.0, alpha=0.25)
    kit.strategy_for(model, [plugin], lr=0.0, train_mb_size=2).train(stream)
    old, new = hand_importance(model, first, [[0, 1]]), hand_importance(model, second, [[0, 1]])
    torch.testing.assert_close(plugin.importance["weight"], 0.25 * old[0] + 0.75 * new[0])
    torch.testing.assert_close(plugin.importance["bias"], 0.25 * old[1] + 0.75 * new[1])


def test_keeps_the_penalty_contract():
    plugin = kit.assert_penalty_contract(lambda: MASPlugin(lambda_reg=1.0), "mas")
    assert plugin.importance["classifier.heads.1.weight"].sum() > 0


def test_state_round_trips_and_a_resumed_run_matches():
    restored = kit.assert_plugin_resumes(lambda: MASPlugin(lambda_reg=1.0))
    assert restored.importance and restored.importance.keys() == restored.anchors.keys()
    with pytest.raises(CheckpointError, match="anchors"):
        MASPlugin().load_state_dict({"importance": {}})


# -- effect --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario, lambda_reg",
    [("task-incremental-split-digits", 0.01), ("permuted-digits", 0.3)],
)
def test_forgets_less_than_finetuning(scenario, lambda_reg):
    kit.assert_forgets_less(MAS, scenario, lambda_reg=lambda_reg)


def test_default_strength_stays_finite_at_plain_sgd_lr_0_1_in_class_incremental_digits():
    """Was NaN (Avalanche's MAS with the same settings still is): importances of the output
    layer reach tens, so lambda_reg=1 asked a step of lr 0.1 to follow a curvature above
    2 / lr. The shared SGD weight limit (``clhost.importance.sgd_weight_limits``) caps it."""
    torch.manual_seed(0)
    model = SimpleMLP(10, 64, (256,))
    plugin = MASPlugin()
    strategy = kit.strategy_for(
        model, [plugin], optimizer="sgd", lr=0.1, train_mb_size=32, train_epochs=5
    )
    for experience in split_digits(seed=0).train_stream:
        strategy.train(experience)  # a blow-up raises NonFiniteError
    assert max(value.max().item() for value in plugin.importance.values()) > 1 / (2 * 0.1)
    assert all(torch.isfinite(p).all() for p in model.parameters())
