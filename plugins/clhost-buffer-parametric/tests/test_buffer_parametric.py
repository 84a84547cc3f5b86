"""Parametric buffer: grouping, shares, keeping the best-ranked samples, and state."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from clhost.data import Experience, TensorData
from clhost.errors import CheckpointError, ParameterError
from clhost.rehearsal import ExemplarsSelectionStrategy
from clhost.testing import state_round_trip, toy_benchmark
from clhost_buffer_parametric import ParametricBuffer, SelectionBuffer
from clhost_selection_random import RandomExemplarsSelectionStrategy


class LargestFirst(ExemplarsSelectionStrategy):
    """Ranks samples by their first feature, largest first; records the strategies seen."""

    def __init__(self):
        self.strategies = []

    def make_sorted_indices(self, strategy, data):
        self.strategies.append(strategy)
        return torch.argsort(data.x[:, 0], descending=True, stable=True).tolist()


def numbered(values, y=0, t=0) -> TensorData:
    x = torch.tensor(values, dtype=torch.float32).unsqueeze(1)
    return TensorData(x, torch.full((len(values),), y), t)


def sizes_of(buffer: ParametricBuffer) -> dict[int, int]:
    return {gid: len(buffer.buffer_groups[gid]) for gid in sorted(buffer.buffer_groups)}


def test_default_is_one_group_of_random_samples():
    torch.manual_seed(0)
    buffer = ParametricBuffer(30)
    assert isinstance(buffer.selection_strategy, RandomExemplarsSelectionStrategy)
    for experience in toy_benchmark(3, 2).train_stream:
        buffer.update(SimpleNamespace(experience=experience))
    assert sizes_of(buffer) == {0: 30}
    assert len(Counter(buffer.buffer.y.tolist())) >= 4, "random over everything it ranked"


def test_groupby_class_gives_every_class_its_share():
    torch.manual_seed(0)
    buffer = ParametricBuffer(200, groupby="class")
    for experience in toy_benchmark(5, 2, n_per_class=60).train_stream:
        buffer.update(SimpleNamespace(experience=experience))
    assert sizes_of(buffer) == {c: 20 for c in range(10)}
    assert dict(Counter(buffer.buffer.y.tolist())) == {c: 20 for c in range(10)}


def test_groupby_task_and_experience():
    torch.manual_seed(0)
    stream = toy_benchmark(3, 2, task_labels=True).train_stream
    by_task, by_experience = (
        ParametricBuffer(31, groupby="task"),
        ParametricBuffer(31, "experience"),
    )
    for experience in stream:
        by_task.update(SimpleNamespace(experience=experience))
        by_experience.update(SimpleNamespace(experience=experience))
    assert sizes_of(by_task) == {0: 11, 1: 10, 2: 10}
    assert sorted(set(by_task.buffer_groups[2].buffer.t.tolist())) == [2]
    assert sizes_of(by_experience) == {0: 11, 1: 10, 2: 10}
    assert set(by_experience.buffer_groups[1].buffer.y.tolist()) == {2, 3}


def test_groups_keep_their_best_ranked_samples_as_they_shrink():
    selection = LargestFirst()
    buffer = ParametricBuffer(6, groupby="class", selection_strategy=selection)
    strategy = SimpleNamespace(experience=Experience(numbered([5, 1, 9, 3, 7, 2, 8], y=0), 0))
    buffer.update(strategy)
    assert buffer.buffer.x[:, 0].tolist() == [9, 8, 7, 5, 3, 2]
    buffer.update_from_data(numbered([4, 6], y=1))
    assert buffer.buffer_groups[0].buffer.x[:, 0].tolist() == [9, 8, 7]
    buffer.update_from_data(numbered([10, 0], y=0))  # class 0 met again: ranked together
    assert buffer.buffer_groups[0].buffer.x[:, 0].tolist() == [10, 9, 8]
    buffer.resize(None, 2)
    assert buffer.buffer.x[:, 0].tolist() == [10, 6]
    assert selection.strategies[0] is strategy, "the strategy reaches the selection"


def test_more_groups_than_slots_leaves_later_groups_empty():
    buffer = ParametricBuffer(2, groupby="class", selection_strategy=LargestFirst())
    buffer.update_from_data(TensorData(torch.arange(3.0).unsqueeze(1), torch.tensor([0, 1, 2])))
    assert sizes_of(buffer) == {0: 1, 1: 1, 2: 0}
    buffer.update_from_data(numbered([5.0], y=2))
    assert sizes_of(buffer) == {0: 1, 1: 1, 2: 0}


def test_bad_parameters_are_named():
    with pytest.raises(ParameterError, match="groupby"):
        ParametricBuffer(10, groupby="label")
    with pytest.raises(ParameterError, match="selection_strategy"):
        ParametricBuffer(10, selection_strategy="herding")
    with pytest.raises(ParameterError, match="max_size"):
        ParametricBuffer(-1)


def test_state_round_trip_restores_groups_and_future_behaviour():
    buffer = ParametricBuffer(6, groupby="class", selection_strategy=LargestFirst())
    buffer.update_from_data(TensorData.concat([numbered([1, 2, 3, 4], 0), numbered([5, 6], 1)]))
    fresh = ParametricBuffer(1, groupby="class", selection_strategy=LargestFirst())
    restored = state_round_trip(buffer, fresh)
    assert torch.equal(restored.buffer.x, buffer.buffer.x)
    for target in (buffer, restored):
        target.update_from_data(numbered([0, 9], 2))
    assert restored.buffer.x[:, 0].tolist() == buffer.buffer.x[:, 0].tolist() == [4, 3, 6, 5, 9, 0]
    with pytest.raises(CheckpointError, match="grouped by 'class'"):
        ParametricBuffer(6, groupby="task").load_state_dict(buffer.state_dict())


def test_selection_buffer_alone_keeps_the_best_samples():
    group = SelectionBuffer(3, LargestFirst())
    group.update_from_data(numbered([2, 7, 1, 5]))
    group.update_from_data(numbered([6]))
    assert group.buffer.x[:, 0].tolist() == [7, 6, 5]
