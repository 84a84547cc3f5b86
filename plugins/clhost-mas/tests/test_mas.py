"""MAS: the importance it estimates, the penalty it adds, its state, and that it forgets less."""

from __future__ import annotations

import copy
import io
from importlib.metadata import entry_points

import pytest
import torch
from torch import nn

from clhost import hookimpl
from clhost.benchmarks import permuted_digits, split_digits
from clhost.data import Experience, TensorData
from clhost.errors import CheckpointError, ParameterError
from clhost.models import IncrementalMLP, MultiHeadMLP, SimpleMLP
from clhost.templates import SupervisedTemplate
from clhost.testing import average_accuracy, toy_benchmark
from clhost_mas import MAS, MASPlugin


class TermProbe:
    """Records the "mas" loss term of every iteration and its gradient for one parameter."""

    def __init__(self, parameter_name: str | None = None):
        self.parameter_name = parameter_name
        self.values: list[tuple[int, float]] = []
        self.gradients: list[torch.Tensor | None] = []

    @hookimpl
    def clhost_before_backward(self, strategy):
        term = strategy.loss_terms.get("mas")
        self.values.append((strategy.clock.train_exp_counter, 0.0 if term is None else term.item()))
        if self.parameter_name is not None and term is not None:
            param = dict(strategy.model.named_parameters())[self.parameter_name]
            (grad,) = torch.autograd.grad(term, param, retain_graph=True, allow_unused=True)
            self.gradients.append(grad)


def strategy_for(model, plugins, *, lr=0.01, batch_size=16, epochs=1):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return SupervisedTemplate(
        model=model,
        optimizer=optimizer,
        train_mb_size=batch_size,
        train_epochs=epochs,
        plugins=plugins,
        evaluator=None,
    )


# -- parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lambda_reg": -1.0}, "lambda_reg"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": "half"}, "alpha"),
    ],
)
def test_bad_parameters_get_one_clear_error(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        MASPlugin(**kwargs)


def test_registered_and_strategy_puts_its_plugin_first():
    assert entry_points(group="clhost.plugins")["mas"].load() is MASPlugin
    assert entry_points(group="clhost.strategies")["mas"].load() is MAS
    model = SimpleMLP(4, 8, (8,))
    strategy = MAS(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        lambda_reg=2.0,
        alpha=0.25,
    )
    plugin = strategy.plugins[0]
    assert isinstance(plugin, MASPlugin) and (plugin.lambda_reg, plugin.alpha) == (2.0, 0.25)


# -- mechanism -----------------------------------------------------------------------


def test_penalty_is_zero_during_the_first_experience_and_positive_after():
    torch.manual_seed(0)
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2)
    probe = TermProbe()
    strategy = strategy_for(SimpleMLP(4, 8, (16,)), [MASPlugin(lambda_reg=1.0), probe])
    strategy.train(benchmark.train_stream)
    first = [value for exp, value in probe.values if exp == 0]
    second = [value for exp, value in probe.values if exp == 1]
    assert first and all(value == 0.0 for value in first)
    assert second[0] == 0.0 and all(0.0 < value < float("inf") for value in second[1:])


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
    strategy_for(model, [plugin], lr=0.0, batch_size=2).train(experience)
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
    strategy_for(model, [plugin], lr=0.0, batch_size=2).train(stream)
    old, new = hand_importance(model, first, [[0, 1]]), hand_importance(model, second, [[0, 1]])
    torch.testing.assert_close(plugin.importance["weight"], 0.25 * old[0] + 0.75 * new[0])
    torch.testing.assert_close(plugin.importance["bias"], 0.25 * old[1] + 0.75 * new[1])


def test_units_a_classifier_grew_are_not_penalised():
    torch.manual_seed(0)
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2)
    probe = TermProbe("classifier.classifier.weight")
    model = IncrementalMLP(8, (16,), initial_out_features=2)
    strategy_for(model, [MASPlugin(lambda_reg=1.0), probe]).train(benchmark.train_stream)
    assert model.classifier.out_features == 4
    later = probe.gradients[1:]  # after the first step of experience 1 the term pulls
    assert later and all(grad[2:].abs().sum() == 0 for grad in later)
    assert all(grad[:2].abs().sum() > 0 for grad in later)


def test_new_heads_are_not_penalised():
    torch.manual_seed(0)
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2, task_labels=True)
    plugin = MASPlugin(lambda_reg=1.0)
    probe = TermProbe("classifier.heads.1.weight")
    strategy_for(MultiHeadMLP(8, (16,)), [plugin, probe]).train(benchmark.train_stream)
    assert probe.gradients and all(grad is None for grad in probe.gradients)
    assert probe.values[-1][1] > 0
    assert plugin.importance["classifier.heads.1.weight"].sum() > 0


def test_state_round_trip_restores_importances_and_behaviour():
    torch.manual_seed(0)
    benchmark = toy_benchmark(n_experiences=3, classes_per_experience=2)
    plugin = MASPlugin(lambda_reg=1.0)
    model = SimpleMLP(6, 8, (16,))
    strategy_for(model, [plugin]).train(benchmark.train_stream[:2])

    buffer = io.BytesIO()
    torch.save(plugin.state_dict(), buffer)
    buffer.seek(0)
    restored = MASPlugin(lambda_reg=1.0)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    for name, value in plugin.importance.items():
        assert torch.equal(restored.importance[name], value)
        assert torch.equal(restored.anchors[name], plugin.anchors[name])

    def continued(with_plugin):
        torch.manual_seed(5)
        copy_of_model = copy.deepcopy(model)
        strategy_for(copy_of_model, [with_plugin]).train(benchmark.train_stream[2])
        return copy_of_model.state_dict(), with_plugin.importance

    (params_a, imp_a), (params_b, imp_b) = continued(plugin), continued(restored)
    assert all(torch.equal(params_a[name], params_b[name]) for name in params_a)
    assert all(torch.equal(imp_a[name], imp_b[name]) for name in imp_a)
    with pytest.raises(CheckpointError, match="anchors"):
        MASPlugin().load_state_dict({"importance": {}})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    torch.manual_seed(0)
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2, task_labels=True)
    model = MultiHeadMLP(8, (16,))
    plugin = MASPlugin(lambda_reg=1.0)
    strategy = SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        plugins=[plugin],
        device="cuda",
    )
    strategy.train(benchmark.train_stream)
    assert all(value.is_cuda for value in plugin.importance.values())


# -- effect --------------------------------------------------------------------------

TASK_INCREMENTAL = {
    "benchmark": lambda: split_digits(task_labels=True),
    "model": lambda: MultiHeadMLP(64, (16,)),
    "lr": 0.03,
    "train_epochs": 10,
    "train_mb_size": 32,
}
DOMAIN_INCREMENTAL = {
    "benchmark": permuted_digits,
    "model": lambda: SimpleMLP(10, 64, (512,)),
    "lr": 0.002,
    "train_epochs": 2,
    "train_mb_size": 64,
}


def accuracy(strategy_class, scenario, **method_options) -> float:
    """Average accuracy over the test stream after training on it in order, with Adam."""
    options = {**scenario, "benchmark": scenario["benchmark"]()}
    return average_accuracy(strategy_class, optimizer="adam", **options, **method_options)


@pytest.mark.parametrize(
    "scenario, lambda_reg",
    [(TASK_INCREMENTAL, 0.01), (DOMAIN_INCREMENTAL, 0.3)],
    ids=["task-incremental-split-digits", "permuted-digits"],
)
def test_forgets_less_than_finetuning(scenario, lambda_reg):
    naive = accuracy(None, scenario)
    mas = accuracy(MAS, scenario, lambda_reg=lambda_reg)
    assert mas > naive + 0.05, (naive, mas)


def test_default_strength_stays_finite_at_plain_sgd_lr_0_1_in_class_incremental_digits():
    """Was NaN (Avalanche's MAS with the same settings still is): importances of the output
    layer reach tens, so lambda_reg=1 asked a step of lr 0.1 to follow a curvature above
    2 / lr. The shared SGD weight limit (``clhost.importance.sgd_weight_limits``) caps it."""
    torch.manual_seed(0)
    model = SimpleMLP(10, 64, (256,))
    plugin = MASPlugin()
    strategy = SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        train_mb_size=32,
        train_epochs=5,
        plugins=[plugin],
        evaluator=None,
    )
    for experience in split_digits(seed=0).train_stream:
        strategy.train(experience)  # a blow-up raises NonFiniteError
    assert max(value.max().item() for value in plugin.importance.values()) > 1 / (2 * 0.1)
    assert all(torch.isfinite(p).all() for p in model.parameters())
