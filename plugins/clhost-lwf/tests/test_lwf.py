"""LwF strategy and plugin: the term is added under its name, a resumed run ends as one
never stopped, and on split and permuted digits LwF forgets far less than
finetuning."""

import pytest
import torch

from clhost.benchmarks import permuted_digits, split_digits
from clhost.errors import ParameterError
from clhost.models import MultiHeadMLP, SimpleMLP
from clhost.templates import SupervisedTemplate
from clhost.testing import assert_resumes, average_accuracy, state_round_trip, toy_benchmark
from clhost_lwf import LwF, LwFPlugin


def _strategy(model, *, lr=0.05, momentum=0.9, epochs=10, **lwf):
    options = dict(
        evaluator=None,
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum),
        train_epochs=epochs,
    )
    return LwF(**lwf, **options) if lwf else SupervisedTemplate(**options)


def test_strategy_adds_the_named_term_after_the_first_experience():
    torch.manual_seed(0)
    bench = toy_benchmark(2, 2, task_labels=True)
    strategy = _strategy(MultiHeadMLP(8, (16,)), alpha=0.5, temperature=3.0, epochs=1)
    (plugin,) = [p for p in strategy.plugins if isinstance(p, LwFPlugin)]
    assert (plugin.lwf.alpha.at(0), plugin.lwf.temperature) == (0.5, 3.0)
    strategy.train(bench.train_stream[0])
    assert strategy.loss_terms["lwf"] == 0
    strategy.train(bench.train_stream[1])
    assert strategy.loss_terms["lwf"] > 0
    assert plugin.state_key == "lwf"


def test_bad_parameters_are_named():
    with pytest.raises(ParameterError, match="alpha"):
        LwFPlugin(alpha=-0.1)
    with pytest.raises(ParameterError, match="temperature"):
        LwFPlugin(temperature=-2.0)


def test_state_round_trips_and_a_resumed_run_matches():
    stream = toy_benchmark(3, 2, task_labels=True).train_stream
    resumed = assert_resumes(
        lambda: _strategy(MultiHeadMLP(8, (16,)), alpha=[0.0, 1.0, 2.0], epochs=2), stream, split=2
    )
    plugin = resumed.plugins[0]
    assert plugin.lwf.experiences_seen == 3
    restored = state_round_trip(plugin, LwFPlugin())
    assert restored.lwf.previous_classes == {0: (0, 1), 1: (2, 3), 2: (4, 5)}


def accuracy(benchmark, model, train_epochs=10, **lwf):
    """Average accuracy over the test stream, LwF (given options) or finetuning."""
    return average_accuracy(
        LwF if lwf else None,
        benchmark=benchmark,
        model=model,
        lr=0.05,
        momentum=0.9,
        train_epochs=train_epochs,
        **lwf,
    )


def test_beats_finetuning_on_task_incremental_split_digits():
    bench, model = split_digits(task_labels=True), lambda: MultiHeadMLP(64, (64, 64))
    naive, lwf = accuracy(bench, model), accuracy(bench, model, alpha=1.0)
    assert lwf >= naive + 0.08, (lwf, naive)  # measured 0.97 vs 0.84


def test_beats_finetuning_on_domain_incremental_permuted_digits():
    bench, model = permuted_digits(), lambda: SimpleMLP(10, 64, (64, 64))
    naive, lwf = accuracy(bench, model, 5), accuracy(bench, model, 5, alpha=3.0)
    assert lwf >= naive + 0.08, (lwf, naive)  # measured 0.45 vs 0.31
