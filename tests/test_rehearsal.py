"""The rehearsal bases: buffer sizes and groups, state, and feature-based selection."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import Tensor, nn

from clhost.data import Experience, TensorData
from clhost.errors import CheckpointError, ParameterError, UnknownNameError
from clhost.models import MultiTaskModule
from clhost.rehearsal import (
    BalancedExemplarsBuffer,
    ExemplarsBuffer,
    ExemplarsSelectionStrategy,
    FeatureBasedExemplarsSelectionStrategy,
    experience_tensors,
)


class FirstSeenBuffer(ExemplarsBuffer):
    """Keeps the first ``max_size`` samples it is offered; drops the newest when shrunk."""

    def update(self, strategy) -> None:
        self.update_from_data(experience_tensors(strategy.experience))

    def update_from_data(self, data: TensorData) -> None:
        room = self.max_size - len(self)
        self.buffer = TensorData.concat([self.buffer, data.subset(range(min(room, len(data))))])

    def resize(self, strategy, new_size: int) -> None:
        self.max_size = new_size
        self.buffer = self.buffer.subset(range(min(new_size, len(self))))


class StrategyOnlyBuffer(ExemplarsBuffer):
    def update(self, strategy) -> None:
        self.buffer = experience_tensors(strategy.experience)

    def resize(self, strategy, new_size: int) -> None:
        self.max_size = new_size


class TaskGroupedBuffer(BalancedExemplarsBuffer):
    """One first-seen group per task label."""

    def make_group_buffer(self, max_size: int) -> ExemplarsBuffer:
        return FirstSeenBuffer(max_size)

    def update(self, strategy) -> None:
        self.update_from_data(experience_tensors(strategy.experience))

    def update_from_data(self, data: TensorData) -> None:
        tasks = data.task_set
        sizes = self.target_sizes([*self.buffer_groups, *tasks])
        for task in tasks:
            self.buffer_groups.setdefault(task, self.make_group_buffer(sizes[task]))
            in_task = torch.nonzero(data.t == task)[:, 0]
            self.buffer_groups[task].update_from_data(data.subset(in_task))
        self.rebalance(None)


def numbered(n: int, task: int = 0, start: int = 0) -> TensorData:
    x = torch.arange(start, start + n, dtype=torch.float32).unsqueeze(1)
    return TensorData(x, torch.arange(start, start + n) % 3, task)


def strategy_on(dataset, task: int = 0) -> SimpleNamespace:
    return SimpleNamespace(experience=Experience(dataset, 0, task_labels=(task,)), device=None)


def test_buffer_starts_empty_and_rejects_bad_sizes():
    buffer = FirstSeenBuffer(5)
    assert len(buffer) == 0 and len(buffer.buffer) == 0
    for bad in (-1, 2.5, True, "3"):
        with pytest.raises(ParameterError, match="max_size"):
            FirstSeenBuffer(bad)


def test_update_from_data_is_refused_by_buffers_that_need_a_strategy():
    with pytest.raises(NotImplementedError, match="StrategyOnlyBuffer"):
        StrategyOnlyBuffer(3).update_from_data(numbered(4))


def test_buffer_holds_tensor_copies_not_views_of_the_experience():
    data = numbered(10)
    buffer = FirstSeenBuffer(4)
    buffer.update(strategy_on(data))
    data.x += 100
    assert buffer.buffer.x[:, 0].tolist() == [0, 1, 2, 3]


def test_experience_tensors_reads_plain_datasets_into_tensors():
    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return torch.full((2,), float(i)), i

    data = experience_tensors(strategy_on(Pairs(), task=4).experience)
    assert isinstance(data, TensorData)
    assert data.x.tolist() == [[0, 0], [1, 1], [2, 2]]
    assert data.y.tolist() == [0, 1, 2] and data.t.tolist() == [4, 4, 4]


def test_buffer_state_round_trip_restores_samples_and_size(tmp_path):
    buffer = FirstSeenBuffer(4)
    buffer.update_from_data(numbered(3).with_extra("logits", torch.ones(3, 2)))
    torch.save(buffer.state_dict(), tmp_path / "buffer.pt")
    restored = FirstSeenBuffer(99)
    restored.load_state_dict(torch.load(tmp_path / "buffer.pt", weights_only=True))
    assert restored.max_size == 4
    assert torch.equal(restored.buffer.x, buffer.buffer.x)
    assert torch.equal(restored.buffer.extras["logits"], torch.ones(3, 2))
    restored.update_from_data(numbered(5, start=10))
    assert restored.buffer.x[:, 0].tolist() == [0, 1, 2, 10]


def test_buffer_state_with_missing_parts_is_a_checkpoint_error():
    with pytest.raises(CheckpointError):
        FirstSeenBuffer(3).load_state_dict({"samples": {}})
    with pytest.raises(CheckpointError):
        FirstSeenBuffer(3).load_state_dict({"max_size": 3})


@pytest.mark.parametrize(
    ("max_size", "groups", "lengths"),
    [(10, 3, [4, 3, 3]), (200, 10, [20] * 10), (5, 7, [1] * 5 + [0, 0]), (9, 1, [9]), (9, 0, [])],
)
def test_adaptive_group_lengths_share_max_size_remainder_first(max_size, groups, lengths):
    assert TaskGroupedBuffer(max_size).get_group_lengths(groups) == lengths


def test_fixed_group_lengths_use_the_total_number_of_groups():
    buffer = TaskGroupedBuffer(10, adaptive_size=False, total_num_groups=4)
    assert buffer.get_group_lengths(1) == [2]
    assert buffer.get_group_lengths(4) == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="4 groups"):
        buffer.get_group_lengths(5)


def test_total_num_groups_is_a_ceiling_for_adaptive_buffers_too():
    buffer = TaskGroupedBuffer(12, total_num_groups=2)
    buffer.update_from_data(TensorData.concat([numbered(5, 0), numbered(5, 1)]))
    with pytest.raises(ValueError, match="2 groups"):
        buffer.update_from_data(numbered(5, 2))


def test_fixed_group_sizes_need_total_num_groups():
    with pytest.raises(ParameterError, match="total_num_groups"):
        TaskGroupedBuffer(10, adaptive_size=False)
    with pytest.raises(ParameterError, match="total_num_groups"):
        TaskGroupedBuffer(10, total_num_groups=0)


def test_balanced_buffer_shrinks_groups_as_new_ones_arrive_and_on_resize():
    buffer = TaskGroupedBuffer(10)
    buffer.update_from_data(numbered(20, task=0))
    assert [len(g) for g in buffer.buffer_groups.values()] == [10]
    buffer.update_from_data(numbered(20, task=1, start=100))
    buffer.update_from_data(numbered(20, task=2, start=200))
    assert {gid: len(g) for gid, g in buffer.buffer_groups.items()} == {0: 4, 1: 3, 2: 3}
    assert buffer.buffer.x[:, 0].tolist() == [0, 1, 2, 3, 100, 101, 102, 200, 201, 202]
    assert buffer.buffer.t.tolist() == [0] * 4 + [1] * 3 + [2] * 3
    buffer.resize(None, 6)
    assert buffer.max_size == 6 and len(buffer) == 6
    assert {gid: g.max_size for gid, g in buffer.buffer_groups.items()} == {0: 2, 1: 2, 2: 2}
    with pytest.raises(ParameterError, match="new_size"):
        buffer.resize(None, -1)


def test_balanced_buffer_cannot_be_assigned_directly():
    with pytest.raises(TypeError, match="buffer_groups"):
        TaskGroupedBuffer(4).buffer = numbered(2)


def test_balanced_state_round_trip_restores_every_group(tmp_path):
    buffer = TaskGroupedBuffer(9)
    buffer.update_from_data(TensorData.concat([numbered(5, 0), numbered(5, 3, start=50)]))
    torch.save(buffer.state_dict(), tmp_path / "b.pt")
    restored = TaskGroupedBuffer(1)
    restored.load_state_dict(torch.load(tmp_path / "b.pt", weights_only=True))
    assert restored.max_size == 9 and sorted(restored.buffer_groups) == [0, 3]
    assert torch.equal(restored.buffer.x, buffer.buffer.x)
    restored.update_from_data(numbered(5, 7, start=70))
    buffer.update_from_data(numbered(5, 7, start=70))
    assert torch.equal(restored.buffer.x, buffer.buffer.x)


class LargestNormFirst(FeatureBasedExemplarsSelectionStrategy):
    def make_sorted_indices_from_features(self, features: Tensor) -> list[int]:
        return torch.argsort(features.norm(dim=1), descending=True).tolist()


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(2, 3)
        self.head = nn.Linear(3, 2)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        return self.head(self.dropout(self.body(x)))


def test_feature_based_selection_reads_the_named_layer_in_eval_mode_and_batches():
    torch.manual_seed(0)
    model = TwoLayers().train()
    data = TensorData(torch.randn(10, 2), torch.zeros(10, dtype=torch.long))
    selection = LargestNormFirst(model, "body", batch_size=3)
    features = selection.extract_features(SimpleNamespace(device=torch.device("cpu")), data)
    assert torch.allclose(features, model.body(data.x).detach())
    assert model.training, "the model's training mode is restored"
    assert not model.body._forward_hooks, "the feature hook is removed"
    order = selection.make_sorted_indices(None, data)
    assert order == torch.argsort(features.norm(dim=1), descending=True).tolist()
    assert selection.make_sorted_indices(None, data.subset([])) == []


def test_feature_extraction_runs_without_gradients():
    model = TwoLayers()
    data = TensorData(torch.randn(4, 2), torch.zeros(4, dtype=torch.long))
    assert not LargestNormFirst(model, "head").extract_features(None, data).requires_grad


def test_feature_based_selection_passes_task_labels_to_multi_task_models():
    class TaskShift(MultiTaskModule):
        def __init__(self):
            super().__init__()
            self.out = nn.Identity()

        def forward(self, x, task_labels):
            return self.out(x + task_labels.unsqueeze(1).float())

    data = TensorData(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), torch.tensor([0, 1, 5]))
    features = LargestNormFirst(TaskShift(), "out").extract_features(None, data)
    assert features[:, 0].tolist() == [0, 1, 5]


def test_unknown_layer_names_suggest_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'body'"):
        LargestNormFirst(TwoLayers(), "bodt")
    with pytest.raises(ParameterError, match="batch_size"):
        LargestNormFirst(TwoLayers(), "body", batch_size=0)


def test_selection_bases_are_abstract():
    with pytest.raises(TypeError):
        ExemplarsSelectionStrategy()
    with pytest.raises(TypeError):
        FeatureBasedExemplarsSelectionStrategy(TwoLayers(), "body")
