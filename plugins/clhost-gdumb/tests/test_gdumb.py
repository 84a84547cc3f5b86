"""GDumb: the greedy sampler balances classes, training restarts from the initial
weights on the memory alone, and that already beats naive finetuning."""

from pathlib import Path

import pytest
import torch

import clhost
from clhost.benchmarks import split_digits
from clhost.data import Experience, TensorData
from clhost.errors import ParameterError
from clhost.models import IncrementalMLP, MultiHeadMLP, SimpleMLP
from clhost.testing import (
    assert_plugin_resumes,
    average_accuracy,
    run_readme_examples,
    state_round_trip,
    strategy_for,
)
from clhost_gdumb import GDumb, GDumbPlugin, GreedyClassBalancedBuffer
from clhost_gdumb.loader import TaskBalancedLoader


def _data(labels):
    labels = torch.tensor(labels)
    return TensorData(labels.float().unsqueeze(1), labels)


def _counts(buffer):
    return torch.bincount(buffer.buffer.y).tolist()


def test_fills_then_balances_greedily():
    buffer = GreedyClassBalancedBuffer(4)
    buffer.update_from_data(_data([0, 0, 0, 0, 0]))
    assert _counts(buffer) == [4]  # full: a fifth 0 is dropped
    buffer.update_from_data(_data([1]))
    assert _counts(buffer) == [3, 1]  # class 1 is under 4 / 2, replaces a 0
    buffer.update_from_data(_data([1, 1, 1]))
    assert _counts(buffer) == [2, 2]  # then stops at its share
    buffer.update_from_data(_data([2, 2, 2, 2]))
    assert sorted(_counts(buffer)) == [1, 1, 2]  # 4 / 3: each class keeps at least one


def test_class_incremental_stream_ends_exactly_balanced():
    torch.manual_seed(0)
    buffer = GreedyClassBalancedBuffer(200)
    for experience in split_digits().train_stream:
        buffer.update_from_data(experience.dataset)
    assert _counts(buffer) == [20] * 10


def test_classes_of_different_tasks_are_balanced_apart():
    """Task-incremental streams restart class ids in each task: class 0 of task 1 is a
    class of its own, so a later task's samples still get their share."""
    buffer = GreedyClassBalancedBuffer(20)
    labels = torch.arange(40) % 2
    buffer.update_from_data(TensorData(torch.zeros(40, 1), labels, torch.zeros(40).long()))
    buffer.update_from_data(TensorData(torch.ones(40, 1), labels, torch.ones(40).long()))
    pairs = list(zip(buffer.buffer.t.tolist(), buffer.buffer.y.tolist(), strict=True))
    assert sorted({pair: pairs.count(pair) for pair in pairs}.items()) == [
        ((0, 0), 5),
        ((0, 1), 5),
        ((1, 0), 5),
        ((1, 1), 5),
    ]


def test_resize_drops_from_the_largest_classes():
    buffer = GreedyClassBalancedBuffer(6)
    buffer.update_from_data(_data([0, 0, 0, 0, 1, 2]))
    buffer.resize(None, 3)
    assert _counts(buffer) == [1, 1, 1]


class WeightsAtStart:
    """Records the model's first-layer weights when each experience starts training."""

    def __init__(self):
        self.weights, self.sizes = [], []

    @clhost.hookimpl
    def clhost_before_training_epoch(self, strategy):
        if strategy.clock.train_exp_epochs == 0:
            self.weights.append(strategy.model.features[1].weight.detach().clone())
            self.sizes.append(len(strategy.adapted_dataset))


def test_each_experience_restarts_from_initial_weights_on_the_memory():
    torch.manual_seed(0)
    model = IncrementalMLP(input_size=64, hidden_sizes=(32,))
    probe = WeightsAtStart()
    strategy = GDumb(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        mem_size=50,
        plugins=[probe],
    )
    for experience in split_digits().train_stream[:3]:
        strategy.train(experience)
    assert torch.equal(probe.weights[0], probe.weights[1])
    assert torch.equal(probe.weights[0], probe.weights[2])
    assert probe.sizes == [50, 50, 50]
    assert model.classifier.out_features == 10  # grew, and the grown units were reset


def test_a_checkpointed_run_resumes_with_the_memory_and_the_initial_weights():
    restored = assert_plugin_resumes(lambda: GDumbPlugin(mem_size=30))
    assert _counts(restored.storage_policy) == [5] * 6  # three experiences of two classes
    assert restored.from_scratch.initial is not None
    assert set(restored.state_dict()) == {"buffer", "initial"}  # the keys checkpoints hold


def test_the_buffer_round_trips_with_its_future_behaviour():
    torch.manual_seed(0)
    buffer, labels = GreedyClassBalancedBuffer(6), _data([0, 0, 0, 0, 1, 1])
    buffer.add(None, labels)
    restored = state_round_trip(buffer, GreedyClassBalancedBuffer(1))
    assert restored.max_size == 6 and torch.equal(restored.buffer.x, buffer.buffer.x)
    restored.add(None, _data([2, 2, 2]))
    assert _counts(restored) == [2, 2, 2]


def test_negative_memory_and_unknown_balancing_are_refused():
    with pytest.raises(ParameterError, match="mem_size"):
        GDumbPlugin(mem_size=-1)
    with pytest.raises(ParameterError, match="balancing must be one of 'greedy', 'reservoir'"):
        GDumbPlugin(balancing="fifo")
    with pytest.raises(ParameterError, match="task_balanced_dataloader must be True or False"):
        GDumbPlugin(task_balanced_dataloader="yes")


def _fill(plugin, *experiences):
    strategy = strategy_for(SimpleMLP(num_classes=2, input_size=1, hidden_sizes=(4,)), [plugin])
    for index, data in enumerate(experiences):
        strategy.train(Experience(data, index))
    return plugin.storage_policy.buffer


def test_the_greedy_sampler_takes_the_experience_in_a_random_order():
    """A dataset's own order (digits come sorted by writer) must not decide what is kept:
    in dataset order, the first 20 samples would fill the memory."""
    torch.manual_seed(0)
    ordered = TensorData(torch.arange(100.0).unsqueeze(1), torch.zeros(100, dtype=torch.long))
    held = _fill(GDumbPlugin(mem_size=20), ordered)
    assert len(held) == 20 and held.x.max() > 19


def test_reservoir_balancing_keeps_samples_of_later_experiences_of_the_same_classes():
    """Domain-incremental: every experience brings classes 0 and 1 again. The paper's
    greedy sampler keeps the first experience only; Avalanche's per-class reservoir
    holds a uniform sample of all of them."""
    torch.manual_seed(0)
    first = TensorData(torch.zeros(40, 1), torch.arange(40) % 2)
    second = TensorData(torch.ones(40, 1), torch.arange(40) % 2)
    greedy = _fill(GDumbPlugin(mem_size=20), first, second)
    reservoir = _fill(GDumbPlugin(mem_size=20, balancing="reservoir"), first, second)
    assert greedy.x.sum() == 0
    assert 0 < reservoir.x.sum() < 20 and torch.bincount(reservoir.y).tolist() == [10, 10]


def test_task_balanced_loader_gives_each_task_its_share_and_oversamples_small_ones():
    """30 samples of task 0 and 6 of task 1 in minibatches of 8: up to 4 of each task per
    minibatch, 8 minibatches (task 0 seen once), task 1 cycled through in fresh passes
    (each pass of 6 in slices of 4: 4 then 2)."""
    torch.manual_seed(0)
    x = torch.arange(36.0).unsqueeze(1)
    t = torch.cat((torch.zeros(30), torch.ones(6))).long()
    loader = TaskBalancedLoader(TensorData(x, torch.zeros(36).long(), t), 8)
    batches = list(loader)
    assert len(loader) == len(batches) == 8
    counts = [torch.bincount(b[2], minlength=2).tolist() for b in batches]
    assert counts == [[4, 4], [4, 2]] * 3 + [[4, 4], [2, 2]]
    seen = torch.cat([b[0][b[2] == 0] for b in batches]).squeeze(1)
    assert sorted(seen.tolist()) == list(range(30))  # task 0: each sample once
    small = torch.cat([b[0][b[2] == 1] for b in batches]).squeeze(1)
    assert torch.bincount(small.long() - 30).tolist() == [4] * 6  # task 1: four passes
    with pytest.raises(ParameterError, match="cannot hold one sample of each of 2 tasks"):
        TaskBalancedLoader(TensorData(x, torch.zeros(36).long(), t), 1)


class TasksPerMinibatch:
    def __init__(self):
        self.counts = []

    @clhost.hookimpl
    def clhost_before_training_iteration(self, strategy):
        self.counts.append(torch.bincount(strategy.mb_task_id, minlength=2).tolist())


@pytest.mark.parametrize("balanced", [False, True])
def test_task_balanced_dataloader_splits_each_minibatch_evenly_among_tasks(balanced):
    """The memory holds 36 samples of task 0 and 4 of task 1: plain minibatches of 8
    hold task 1 in proportion (often not at all); task-balanced ones 4 of each."""
    torch.manual_seed(0)
    model = MultiHeadMLP(input_size=1, hidden_sizes=(4,))
    probe = TasksPerMinibatch()
    strategy = GDumb(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        mem_size=40,
        balancing="reservoir",
        task_balanced_dataloader=balanced,
        train_mb_size=8,
        train_epochs=1,
        plugins=[probe],
    )
    for task, size in enumerate((36, 4)):
        probe.counts.clear()
        data = TensorData(torch.zeros(size, 1), torch.arange(size) % 2, torch.full((size,), task))
        experience = Experience(data, task, classes_in_this_experience=(0, 1), task_labels=(task,))
        strategy.train(experience)
    if balanced:
        assert probe.counts == [[4, 4]] * 9
    else:
        assert len(probe.counts) == 5 and sum(c[1] for c in probe.counts) == 4


def test_gdumb_beats_naive_on_split_digits():
    def accuracy(*strategy, **options):
        return average_accuracy(
            *strategy,
            benchmark=split_digits(),
            model=lambda: SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(128,)),
            train_epochs=10,
            **options,
        )

    assert accuracy() < 0.25
    assert accuracy(GDumb, mem_size=200) > 0.75


def test_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
