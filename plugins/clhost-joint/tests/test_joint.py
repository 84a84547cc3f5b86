"""JointTraining trains once on the whole stream with a model grown to all of it."""

import functools
import math
from pathlib import Path

import pytest
import torch

import clhost
from clhost import testing as kit
from clhost.benchmarks import split_digits
from clhost.data import Experience
from clhost.models import IncrementalMLP, MultiHeadMLP, SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost_joint import AlreadyTrainedError, JointTraining, joint_experience


class Spy(SupervisedPlugin):
    def __init__(self):
        self.sizes, self.classes, self.outputs, self.optimized = [], [], [], []

    @clhost.hookimpl
    def clhost_before_training_exp(self, strategy):
        self.sizes.append(len(strategy.adapted_dataset))
        self.classes.append(set(strategy.adapted_dataset.y.tolist()))
        self.outputs.append(strategy.model.classifier.out_features)
        params = {id(p) for group in strategy.optimizer.param_groups for p in group["params"]}
        self.optimized.append(params == {id(p) for p in strategy.model.parameters()})


build = functools.partial(
    kit.seeded_strategy, model=lambda: SimpleMLP(10, 64, (64,)), train_epochs=5
)


@pytest.fixture(scope="module")
def benchmark():
    return split_digits(n_experiences=5, seed=0)


def test_one_training_run_on_the_concatenated_stream_with_a_grown_model(benchmark):
    spy = Spy()
    strategy = build(
        JointTraining,
        model=lambda: IncrementalMLP(input_size=64, hidden_sizes=(64,), initial_out_features=2),
        plugins=[spy],
        train_mb_size=32,
    )
    result = strategy.train(benchmark.train_stream)
    total = sum(len(e) for e in benchmark.train_stream)
    assert spy.sizes == [total] and spy.classes == [set(range(10))]
    assert spy.outputs == [10]  # grown for every experience before training starts
    assert spy.optimized == [True]  # the head was replaced three times, the optimizer follows
    assert result.iterations == 5 * math.ceil(total / 32)
    assert strategy.evaluator.trained_experiences == [4]
    assert strategy.eval(benchmark.test_stream).accuracy > 0.85


def test_training_twice_is_an_error(benchmark):
    strategy = build(JointTraining, train_epochs=1)
    strategy.train(benchmark.train_stream[:2])
    with pytest.raises(AlreadyTrainedError, match="single time with the whole stream"):
        strategy.train(benchmark.train_stream[2:])


def test_a_task_incremental_stream_gets_every_head():
    bench = kit.toy_benchmark(n_experiences=3, classes_per_experience=2, task_labels=True)
    torch.manual_seed(0)
    model = MultiHeadMLP(input_size=8, hidden_sizes=(16,), initial_out_features=2)
    strategy = JointTraining(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), train_epochs=3
    )
    strategy.train(bench.train_stream)
    assert sorted(model.classifier.heads) == ["0", "1", "2"]
    result = strategy.eval(bench.test_stream)
    assert min(m["accuracy"] for m in result.per_experience.values()) > 0.9


def test_joint_experience_keeps_task_labels_and_plain_datasets():
    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return torch.zeros(2), 1

    tensors = kit.toy_benchmark(n_experiences=1, task_labels=True).train_stream[0]
    plain = Experience(Pairs(), 1, "train", (1,), (5,))
    merged = joint_experience([tensors, plain])
    assert len(merged) == len(tensors) + 3
    assert merged.task_labels == (0, 5) and merged.classes_in_this_experience == (0, 1)
    assert merged.current_experience == 1
    assert merged.dataset[len(tensors)][2] == 5
    with pytest.raises(ValueError, match="at least one experience"):
        joint_experience([])


def test_joint_beats_naive_on_class_incremental_split_digits(benchmark):
    naive = build(SupervisedTemplate)
    for experience in benchmark.train_stream:
        naive.train(experience)
    joint = build(JointTraining)
    joint.train(benchmark.train_stream)
    naive_accuracy = naive.eval(benchmark.test_stream).accuracy
    joint_accuracy = joint.eval(benchmark.test_stream).accuracy
    assert joint_accuracy > 0.85
    assert joint_accuracy > naive_accuracy + 0.5


def test_readme_example_runs():
    kit.run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
