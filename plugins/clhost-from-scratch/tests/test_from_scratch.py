"""FromScratchTraining resets weights and optimizer state before every experience."""

import functools
from pathlib import Path

import pytest
import torch

import clhost
from clhost import testing as kit
from clhost.benchmarks import split_digits
from clhost.errors import ParameterError
from clhost.models import IncrementalMLP, SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost_from_scratch import FromScratchTraining, FromScratchTrainingPlugin


class AtStart(SupervisedPlugin):
    """Seeds the RNG and records weights and optimizer state as each experience starts."""

    def __init__(self):
        self.weights, self.optimizer_states = [], []

    @clhost.hookimpl
    def clhost_before_training_exp(self, strategy):
        torch.manual_seed(1)  # same shuffling in every experience, whatever came before
        self.weights.append({k: v.clone() for k, v in strategy.model.state_dict().items()})
        self.optimizer_states.append(len(strategy.optimizer.state))


build = functools.partial(
    kit.seeded_strategy, model=lambda: SimpleMLP(10, 64, (64,)), train_epochs=3
)


@pytest.fixture(scope="module")
def benchmark():
    return split_digits(n_experiences=5, seed=0)


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_weights_and_optimizer_state_are_reset_before_each_experience(benchmark):
    spy = AtStart()
    strategy = build(FromScratchTraining, plugins=[spy])
    strategy.train(benchmark.train_stream[:3])
    initial = spy.weights[0]
    trained = strategy.model.state_dict()
    assert any(not torch.equal(initial[k], trained[k]) for k in initial)
    for weights in spy.weights[1:]:
        assert_same(weights, initial)
    assert spy.optimizer_states == [0, 0, 0]


def test_reset_optimizer_false_keeps_the_momentum(benchmark):
    spy = AtStart()
    strategy = build(FromScratchTraining, plugins=[spy], reset_optimizer=False)
    strategy.train(benchmark.train_stream[:2])
    assert_same(spy.weights[1], spy.weights[0])
    assert spy.optimizer_states == [0, 4]  # one momentum buffer per parameter


def test_a_grown_classifier_is_reinitialised_and_the_body_restored(benchmark):
    spy = AtStart()
    strategy = build(
        FromScratchTraining,
        model=lambda: IncrementalMLP(input_size=64, hidden_sizes=(64,), initial_out_features=2),
        plugins=[spy],
    )
    strategy.train(benchmark.train_stream[:2])
    first, second = spy.weights
    assert_same(
        {k: v for k, v in second.items() if k.startswith("features")},
        {k: v for k, v in first.items() if k.startswith("features")},
    )
    head = "classifier.classifier.weight"
    assert first[head].shape[0] < second[head].shape[0]
    trained_rows = strategy.model.classifier.classifier.weight.shape[0]
    assert trained_rows == 1 + max(benchmark.train_stream[1].classes_seen_so_far)


def test_earlier_experiences_have_no_influence_on_the_next(benchmark):
    def final_weights(cls, experiences):
        strategy = build(cls, plugins=[AtStart()])
        strategy.train(experiences)
        return strategy.model.state_dict()

    last = benchmark.train_stream[2]
    alone = final_weights(FromScratchTraining, [last])
    assert_same(final_weights(FromScratchTraining, benchmark.train_stream[:3]), alone)
    naive = final_weights(SupervisedTemplate, benchmark.train_stream[:3])
    assert any(not torch.equal(alone[k], naive[k]) for k in alone)


def test_from_scratch_learns_each_experience_and_keeps_nothing_of_the_others(benchmark):
    strategy = build(FromScratchTraining)
    for experience in benchmark.train_stream:
        strategy.train(experience)
    per_experience = strategy.eval(benchmark.test_stream).per_experience
    assert per_experience[4]["accuracy"] > 0.9
    assert max(per_experience[i]["accuracy"] for i in range(4)) < 0.1


def test_state_dict_round_trip_restores_the_same_initial_weights(benchmark):
    first = build(FromScratchTraining)
    first.train(benchmark.train_stream[0])
    restored = kit.state_round_trip(first.plugins[0], FromScratchTrainingPlugin())
    spy = AtStart()
    second = build(SupervisedTemplate, plugins=[restored, spy])
    torch.nn.init.zeros_(second.model.classifier.weight)  # a model trained differently
    second.train(benchmark.train_stream[1])
    assert_same(spy.weights[0], first.plugins[0].initial)


def test_a_resumed_run_ends_as_one_never_stopped(benchmark):
    kit.assert_resumes(
        lambda: build(FromScratchTraining, train_epochs=1, evaluator=None),
        benchmark.train_stream[:3],
    )


def test_reset_optimizer_must_be_a_bool():
    with pytest.raises(ParameterError, match="reset_optimizer"):
        FromScratchTrainingPlugin(reset_optimizer="yes")


def test_readme_example_runs():
    kit.run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
