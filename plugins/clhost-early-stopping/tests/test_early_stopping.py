"""EarlyStoppingPlugin stops after ``patience`` without improvement and restores the best."""

import dataclasses
from pathlib import Path

import pytest
import torch

import clhost
from clhost import testing as kit
from clhost.benchmarks import split_digits
from clhost.data import Stream
from clhost.errors import ParameterError, UnknownNameError
from clhost.evaluation import EvaluationPlugin
from clhost.models import SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost.testing import run_readme_examples, toy_benchmark
from clhost_early_stopping import EarlyStoppingPlugin


class ScriptedEvaluator(EvaluationPlugin):
    """The real evaluator, with the validation metric replaced by scripted values."""

    def __init__(self, metric, values):
        super().__init__()
        self.metric, self.values = metric, iter(values)

    @clhost.hookimpl
    def clhost_after_eval(self, strategy):
        super().clhost_after_eval(strategy)
        if strategy.experience.origin_stream == "valid":
            self.last_eval_result().metrics[self.metric] = next(self.values)


class Snapshots(SupervisedPlugin):
    """The weights after every epoch and iteration, to compare with what is restored."""

    def __init__(self):
        self.epochs, self.iterations = {}, {}

    @clhost.hookimpl
    def clhost_after_training_epoch(self, strategy):
        self.epochs[strategy.clock.train_exp_epochs + 1] = _weights(strategy.model)

    @clhost.hookimpl
    def clhost_after_training_iteration(self, strategy):
        self.iterations[strategy.clock.train_exp_iterations + 1] = _weights(strategy.model)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same(a, b):
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def as_valid(stream):
    return Stream("valid", [dataclasses.replace(e, origin_stream="valid") for e in stream])


@pytest.fixture(scope="module")
def bench():
    return toy_benchmark(n_experiences=2, classes_per_experience=2, n_per_class=20)


def build(plugins, evaluator="default", **kwargs):
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    return SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        plugins=plugins,
        evaluator=evaluator,
        **{"train_mb_size": 10, "train_epochs": 10, "eval_every": 1, **kwargs},
    )


def test_stops_after_patience_epochs_and_restores_the_best_epoch(bench):
    stopper, snapshots = EarlyStoppingPlugin(patience=2), Snapshots()
    evaluator = ScriptedEvaluator("accuracy", [0.5, 0.7, 0.6, 0.65, 0.9, 0.95])
    strategy = build([stopper, snapshots], evaluator)
    result = strategy.train(bench.train_stream[0], eval_streams=[as_valid(bench.test_stream)])
    assert result.epochs == 4 and result.iterations == 16
    assert stopper.history == [(1, 0.5), (2, 0.7), (3, 0.6), (4, 0.65)]
    assert (stopper.best_step, stopper.best_value, stopper.stopped_at) == (2, 0.7, 4)
    assert_same(_weights(strategy.model), snapshots.epochs[2])


def test_each_experience_starts_afresh(bench):
    stopper = EarlyStoppingPlugin(patience=1)
    values = [0.9, 0.8] + [0.1, 0.2, 0.3, 0.4, 0.5]
    strategy = build([stopper], ScriptedEvaluator("accuracy", values), train_epochs=5)
    valid = [as_valid(bench.test_stream)]
    assert strategy.train(bench.train_stream[0], eval_streams=valid).epochs == 2
    assert strategy.train(bench.train_stream[1], eval_streams=valid).epochs == 5
    assert stopper.stopped_at is None and stopper.best_value == 0.5


def test_margin_and_min_mode(bench):
    stopper = EarlyStoppingPlugin(patience=2, metric_name="loss", mode="min", margin=0.1)
    evaluator = ScriptedEvaluator("loss", [1.0, 0.95, 0.92, 0.5])
    strategy = build([stopper], evaluator)
    result = strategy.train(bench.train_stream[0], eval_streams=[as_valid(bench.test_stream)])
    assert result.epochs == 3  # 0.95 and 0.92 are within the margin of 1.0
    assert (stopper.best_step, stopper.best_value) == (1, 1.0)


def test_iteration_mode_counts_patience_in_iterations(bench):
    stopper, snapshots = EarlyStoppingPlugin(patience=3, peval_mode="iteration"), Snapshots()
    evaluator = ScriptedEvaluator("accuracy", [0.1, 0.5, 0.4, 0.3, 0.2, 0.15])
    strategy = build([stopper, snapshots], evaluator, eval_every=1, peval_mode="iteration")
    result = strategy.train(bench.train_stream[0], eval_streams=[as_valid(bench.test_stream)])
    assert result.iterations == 6  # decided before iteration 6, effective after it
    assert stopper.history == [(1, 0.1), (2, 0.5), (3, 0.4), (4, 0.3), (5, 0.2), (6, 0.15)]
    assert stopper.stopped_at == 5
    assert_same(_weights(strategy.model), snapshots.iterations[2])


def test_other_streams_and_evaluations_outside_training_are_ignored(bench):
    stopper = EarlyStoppingPlugin(patience=1)
    evaluator = ScriptedEvaluator("accuracy", [0.9, 0.8, 0.7])
    strategy = build([stopper], evaluator, train_epochs=3)
    eval_streams = [as_valid(bench.test_stream), bench.test_stream]  # test read between
    result = strategy.train(bench.train_stream[0], eval_streams=eval_streams)
    assert result.epochs == 2 and stopper.history == [(1, 0.9), (2, 0.8)]
    strategy.eval(as_valid(bench.test_stream))
    assert stopper.history == [(1, 0.9), (2, 0.8)]


def test_restore_best_weights_false_keeps_the_last_weights(bench):
    stopper, snapshots = EarlyStoppingPlugin(patience=1, restore_best_weights=False), Snapshots()
    evaluator = ScriptedEvaluator("accuracy", [0.9, 0.8])
    strategy = build([stopper, snapshots], evaluator)
    strategy.train(bench.train_stream[0], eval_streams=[as_valid(bench.test_stream)])
    assert_same(_weights(strategy.model), snapshots.epochs[2])


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_on_split_digits_ends_early_at_the_best_validation_accuracy(restore):
    benchmark = split_digits(n_experiences=5, seed=0)
    stopper = EarlyStoppingPlugin(patience=3, restore_best_weights=restore)
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(64,))
    strategy = SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        plugins=[stopper],
        train_epochs=100,
        eval_every=1,
    )
    valid = as_valid(benchmark.test_stream[:1])
    result = strategy.train(benchmark.train_stream[0], eval_streams=[valid])
    values = [value for _, value in stopper.history]
    assert result.epochs < 20 and stopper.stopped_at == result.epochs
    assert len(values) == result.epochs and max(values) > 0.9
    final = strategy.eval(valid).accuracy
    assert final == (max(values) if restore else values[-1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eval_every": -1}, "eval_every > 0"),
        ({"evaluator": None}, "evaluator=None"),
    ],
)
def test_a_strategy_without_periodic_evaluation_is_refused(bench, kwargs, message):
    strategy = build([EarlyStoppingPlugin()], **kwargs)
    with pytest.raises(ParameterError, match=message):
        strategy.train(bench.train_stream[0], eval_streams=[as_valid(bench.test_stream)])


def test_a_missing_validation_stream_or_metric_is_named(bench):
    strategy = build([EarlyStoppingPlugin(val_stream_name="valid")])
    with pytest.raises(ParameterError, match="'valid' is not among.*test"):
        strategy.train(bench.train_stream[0], eval_streams=[bench.test_stream])
    strategy = build([EarlyStoppingPlugin(metric_name="acuracy")])
    with pytest.raises(UnknownNameError, match="did you mean 'accuracy'"):
        strategy.train(bench.train_stream[0], eval_streams=[as_valid(bench.test_stream)])


def test_bad_parameters_are_named():
    kit.assert_refuses(
        EarlyStoppingPlugin,
        {"patience": 0},
        {"mode": "maximum"},
        {"peval_mode": "batch"},
        {"margin": -0.1},
        {"val_stream_name": ""},
        {"restore_best_weights": "yes"},
    )


def test_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
