"""Cumulative trains on the union of all experiences so far, and so does not forget."""

import functools
import math
from pathlib import Path

import pytest
import torch

import clhost
from clhost import testing as kit
from clhost.benchmarks import split_digits
from clhost.data import Experience, TensorData
from clhost.models import SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost_cumulative import Cumulative, CumulativePlugin


class SizeSpy(SupervisedPlugin):
    """Records what each experience trains on."""

    def __init__(self):
        self.sizes, self.classes, self.batches = [], [], []

    @clhost.hookimpl
    def clhost_before_training_exp(self, strategy):
        self.sizes.append(len(strategy.adapted_dataset))
        self.classes.append(set(strategy.adapted_dataset.y.tolist()))
        self.batches.append(len(strategy.dataloader))


build = functools.partial(
    kit.seeded_strategy, model=lambda: SimpleMLP(10, 64, (64,)), train_epochs=5
)


@pytest.fixture(scope="module")
def benchmark():
    return split_digits(n_experiences=5, seed=0)


def test_each_experience_trains_on_all_data_seen_so_far(benchmark):
    spy = SizeSpy()
    strategy = build(Cumulative, plugins=[spy], train_mb_size=32)
    for experience in benchmark.train_stream:
        strategy.train(experience)
    lengths = [len(e) for e in benchmark.train_stream]
    expected = [sum(lengths[: i + 1]) for i in range(len(lengths))]
    assert spy.sizes == expected
    assert spy.batches == [math.ceil(n / 32) for n in expected]
    for i, classes in enumerate(spy.classes):
        assert classes == set(benchmark.train_stream[i].classes_seen_so_far)


def test_the_union_holds_every_sample_once():
    parts = [TensorData(torch.full((3, 2), float(i)), torch.full((3,), i)) for i in range(3)]
    plugin = CumulativePlugin()

    class Strategy:
        adapted_dataset = None

    for part in parts:
        Strategy.adapted_dataset = part
        plugin.clhost_after_train_dataset_adaptation(Strategy)
    torch.testing.assert_close(Strategy.adapted_dataset.y, torch.arange(3).repeat_interleave(3))
    assert Strategy.adapted_dataset is plugin.seen


def test_datasets_that_are_not_tensors_are_concatenated():
    class Pairs(torch.utils.data.Dataset):
        def __init__(self, label):
            self.label = label

        def __len__(self):
            return 4

        def __getitem__(self, index):
            return torch.zeros(8), self.label

    torch.manual_seed(0)
    model = SimpleMLP(num_classes=2, input_size=8, hidden_sizes=(4,))
    seen = []

    class Count(SupervisedPlugin):
        @clhost.hookimpl
        def clhost_before_training_exp(self, strategy):
            seen.append(len(strategy.adapted_dataset))

    strategy = Cumulative(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), plugins=[Count()]
    )
    for label in (0, 1):
        strategy.train(Experience(Pairs(label), label, "train", (label,)))
    assert seen == [4, 8]
    with pytest.raises(clhost.errors.CheckpointError, match="tensor data"):
        strategy.plugins[0].state_dict()


def test_state_dict_round_trip_restores_the_union(benchmark):
    first = build(Cumulative)
    first.train(benchmark.train_stream[:2])
    restored = kit.state_round_trip(first.plugins[0], CumulativePlugin())
    spy = SizeSpy()
    second = build(SupervisedTemplate, plugins=[restored, spy])
    second.train(benchmark.train_stream[2])
    assert spy.sizes == [sum(len(e) for e in benchmark.train_stream[:3])]
    assert spy.classes == [set(benchmark.train_stream[2].classes_seen_so_far)]


def test_a_resumed_run_ends_as_one_never_stopped(benchmark):
    resumed = kit.assert_resumes(
        lambda: build(Cumulative, train_epochs=1, evaluator=None), benchmark.train_stream[:3]
    )
    assert len(resumed.plugins[0].seen) == sum(len(e) for e in benchmark.train_stream[:3])


def test_cumulative_beats_naive_on_class_incremental_split_digits(benchmark):
    accuracies = {}
    for name, cls in (("naive", SupervisedTemplate), ("cumulative", Cumulative)):
        strategy = build(cls)
        for experience in benchmark.train_stream:
            strategy.train(experience)
        accuracies[name] = strategy.eval(benchmark.test_stream).accuracy
    assert accuracies["cumulative"] > 0.85
    assert accuracies["cumulative"] > accuracies["naive"] + 0.5


def test_readme_example_runs():
    kit.run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
