"""Replay: minibatches joined with memory, storage policy updates, composition, state,
the old parameter name and effect."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from clhost import hookimpl
from clhost import testing as kit
from clhost.benchmarks import split_digits
from clhost.data import TensorData
from clhost.errors import CheckpointError, ParameterError, PluginCompositionError
from clhost.models import SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost.testing import assert_resumes, run_readme_examples, state_round_trip, toy_benchmark
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_buffer_experience_balanced import ExperienceBalancedBuffer
from clhost_buffer_parametric import ParametricBuffer
from clhost_early_stopping import EarlyStoppingPlugin
from clhost_lr_scheduler import LRSchedulerPlugin
from clhost_replay import Replay, ReplayPlugin, TaskBalancedReplayLoader
from clhost_selection_herding import HerdingSelectionStrategy


class MinibatchRecorder(SupervisedPlugin):
    """Records, per experience, the targets and task labels of every training minibatch
    and the learning rate each epoch starts with."""

    def __init__(self):
        self.batches: list[list[tuple[list[int], list[int]]]] = []
        self.epoch_lrs: list[list[float]] = []

    @hookimpl
    def clhost_before_training_exp(self, strategy):
        self.batches.append([])
        self.epoch_lrs.append([])

    @hookimpl
    def clhost_before_training_epoch(self, strategy):
        self.epoch_lrs[-1].append(strategy.optimizer.param_groups[0]["lr"])

    @hookimpl
    def clhost_before_forward(self, strategy):
        self.batches[-1].append((strategy.mb_y.tolist(), strategy.mb_task_id.tolist()))


def replay_on(benchmark, seed: int = 0, **kwargs) -> Replay:
    torch.manual_seed(seed)
    model = SimpleMLP(benchmark.n_classes, benchmark.input_shape[0], (32,))
    return Replay(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        **{"evaluator": None, **kwargs},
    )


def test_memory_minibatches_join_the_current_ones_after_the_first_experience():
    benchmark = toy_benchmark(3, 2)  # 100 training samples per experience
    recorder = MinibatchRecorder()
    strategy = replay_on(
        benchmark, mem_size=20, batch_size_mem=4, train_mb_size=10, plugins=[recorder]
    )
    group_sizes = []
    for experience in benchmark.train_stream:
        strategy.train(experience)
        group_sizes.append(
            [len(g) for g in strategy.plugins[0].storage_policy.buffer_groups.values()]
        )
    assert group_sizes == [[20], [10, 10], [7, 7, 6]]
    first, second, third = recorder.batches
    assert [len(y) for y, _ in first] == [10] * 10
    assert [len(y) for y, _ in second] == [14] * 10
    assert all(set(y[:10]) <= {2, 3} and set(y[10:]) <= {0, 1} for y, _ in second)
    assert all(set(y[10:]) <= {0, 1, 2, 3} for y, _ in third)
    seen_in_memory = Counter(label for y, _ in third for label in y[10:])
    assert set(seen_in_memory) == {0, 1, 2, 3}


def test_batch_size_sets_the_current_part_even_before_there_is_memory():
    benchmark = toy_benchmark(2, 2)
    recorder = MinibatchRecorder()
    strategy = replay_on(
        benchmark, mem_size=10, batch_size=25, batch_size_mem=5, train_mb_size=7, plugins=[recorder]
    )
    strategy.train(benchmark.train_stream)
    assert [len(y) for y, _ in recorder.batches[0]] == [25] * 4
    assert [len(y) for y, _ in recorder.batches[1]] == [30] * 4


def test_a_given_storage_policy_is_used_and_must_match_mem_size():
    benchmark = toy_benchmark(2, 2)
    buffer = ClassBalancedBuffer(40)
    strategy = replay_on(benchmark, mem_size=40, storage_policy=buffer)
    strategy.train(benchmark.train_stream)
    assert Counter(buffer.buffer.y.tolist()) == {0: 10, 1: 10, 2: 10, 3: 10}
    with pytest.raises(ParameterError, match="mem_size=200"):
        ReplayPlugin(storage_policy=ClassBalancedBuffer(40))


def test_the_old_name_buffer_still_works_with_a_warning():
    buffer = ClassBalancedBuffer(40)
    with pytest.warns(DeprecationWarning, match="buffer is now called storage_policy"):
        plugin = ReplayPlugin(mem_size=40, buffer=buffer)
    assert plugin.storage_policy is buffer
    benchmark = toy_benchmark(2, 2)
    with pytest.warns(DeprecationWarning, match="buffer is now called storage_policy"):
        strategy = replay_on(benchmark, mem_size=40, buffer=buffer)
    assert strategy.plugins[0].storage_policy is buffer
    with pytest.raises(TypeError, match="both storage_policy and its old name buffer"):
        ReplayPlugin(mem_size=40, buffer=buffer, storage_policy=buffer)


def test_bad_parameters_are_named():
    kit.assert_refuses(
        ReplayPlugin,
        {"mem_size": -1},
        {"batch_size": 0},
        {"batch_size_mem": 2.5},
        {"task_balanced_dataloader": "yes"},
        {"storage_policy": [1, 2]},
    )


def test_task_balanced_loader_splits_the_memory_minibatch_by_task():
    memory = TensorData(torch.zeros(100, 1), torch.zeros(100), torch.tensor([0] * 90 + [7] * 10))
    current = TensorData(torch.ones(30, 1), torch.ones(30), 9)
    loader = TaskBalancedReplayLoader(current, memory, batch_size=10, batch_size_mem=5)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    for x, _, t in batches:
        assert t.tolist()[:10] == [9] * 10
        assert Counter(t.tolist()[10:]) == {0: 3, 7: 2}
        assert x[:10].eq(1).all() and x[10:].eq(0).all()
    tiny = TaskBalancedReplayLoader(current, memory, batch_size=10, batch_size_mem=1)
    assert Counter(next(iter(tiny))[2].tolist()[10:]) == {0: 1, 7: 1}, "a slot per task"


def test_task_balanced_replay_in_a_task_incremental_stream():
    benchmark = toy_benchmark(3, 2, task_labels=True)
    recorder = MinibatchRecorder()
    strategy = replay_on(
        benchmark,
        mem_size=30,
        batch_size_mem=6,
        train_mb_size=10,
        task_balanced_dataloader=True,
        plugins=[recorder],
    )
    strategy.train(benchmark.train_stream)
    for _, tasks in recorder.batches[2]:
        assert Counter(tasks[10:]) == {0: 3, 1: 3}


def test_replay_composes_with_scheduler_and_early_stopping_plugins():
    benchmark = toy_benchmark(3, 2)
    recorder, stopper = MinibatchRecorder(), EarlyStoppingPlugin(patience=1, val_stream_name="test")
    strategy = replay_on(
        benchmark,
        mem_size=30,
        train_mb_size=10,
        train_epochs=30,
        eval_every=1,
        evaluator="default",
        plugins=[LRSchedulerPlugin("exponential", gamma=0.8), stopper, recorder],
    )
    epochs = []
    for index, experience in enumerate(benchmark.train_stream):
        epochs.append(strategy.train(experience, [benchmark.test_stream[: index + 1]]).epochs)
        assert stopper.stopped_at is not None and len(strategy.plugins[0].storage_policy) == 30
    assert all(count < 30 for count in epochs), epochs
    assert {len(y) for y, _ in recorder.batches[2]} == {20}, "memory still replayed"
    for lrs in recorder.epoch_lrs:  # the schedule restarts with every experience
        assert lrs == pytest.approx([0.05 * 0.8**epoch for epoch in range(len(lrs))])
    assert strategy.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_two_replay_plugins_cannot_share_a_strategy():
    model = SimpleMLP(4, 8, (8,))
    with pytest.raises(PluginCompositionError, match="ReplayPlugin"):
        Replay(
            model=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            plugins=[ReplayPlugin()],
        )


def test_state_round_trip_restores_the_memory_and_the_training_that_follows():
    benchmark = toy_benchmark(3, 2)
    original = replay_on(benchmark, mem_size=30)
    original.train(benchmark.train_stream[:2])
    restored = state_round_trip(original.plugins[0], ReplayPlugin(mem_size=30))
    assert torch.equal(
        restored.storage_policy.buffer.x, original.plugins[0].storage_policy.buffer.x
    )
    resumed = assert_resumes(lambda: replay_on(benchmark, mem_size=30), benchmark.train_stream)
    assert len(resumed.plugins[0].storage_policy) == 30
    with pytest.raises(CheckpointError, match="buffer"):
        ReplayPlugin().load_state_dict({})


def average_accuracy(strategy, benchmark) -> float:
    for experience in benchmark.train_stream:
        strategy.train(experience)
    return strategy.eval(benchmark.test_stream).metrics["accuracy"]


def digits_strategy(replay: bool):
    torch.manual_seed(0)
    model = SimpleMLP(10, 64, (128,))
    kwargs = dict(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        train_mb_size=32,
        train_epochs=5,
    )
    return Replay(mem_size=200, **kwargs) if replay else SupervisedTemplate(**kwargs)


def test_replay_of_200_samples_remembers_split_digits_where_finetuning_forgets():
    benchmark = split_digits(seed=0)
    naive = average_accuracy(digits_strategy(replay=False), benchmark)
    replay = average_accuracy(digits_strategy(replay=True), benchmark)
    assert naive < 0.3, naive  # measured 0.20: only the last two classes survive
    assert replay >= 0.7, replay  # measured 0.88 (0.86-0.91 over seeds 0-4)


def test_default_storage_policy_is_adaptive_experience_balanced():
    plugin = ReplayPlugin(mem_size=50)
    assert isinstance(plugin.storage_policy, ExperienceBalancedBuffer)
    assert plugin.storage_policy.max_size == 50 and plugin.storage_policy.adaptive_size


def test_replay_with_an_icarl_memory_keeps_the_herding_prefix_of_the_trained_features():
    benchmark = toy_benchmark(2, 2)
    torch.manual_seed(0)
    model = SimpleMLP(4, 8, (16,))
    selection = HerdingSelectionStrategy(model, "features")
    buffer = ParametricBuffer(20, groupby="class", selection_strategy=selection)
    strategy = Replay(
        mem_size=20,
        storage_policy=buffer,
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        evaluator=None,
    )
    strategy.train(benchmark.train_stream)
    assert Counter(buffer.buffer.y.tolist()) == {0: 5, 1: 5, 2: 5, 3: 5}
    assert model.training, "selection restores the training mode"
    class_two = benchmark.train_stream[1].dataset
    class_two = class_two.subset(torch.nonzero(class_two.y == 2)[:, 0])
    with torch.no_grad():
        model.eval()
        order = selection.make_sorted_indices_from_features(model.features(class_two.x))
    assert torch.equal(buffer.buffer_groups[2].buffer.x, class_two.x[order[:5]])


def test_readme_example_runs_without_deprecated_names(recwarn):
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
