"""The data model: tensor data, loaders that batch by slicing, experiences and streams."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from clhost.data import (
    Benchmark,
    CyclingLoader,
    Experience,
    ReplayLoader,
    Stream,
    TaskLabelled,
    TensorBatchLoader,
    TensorData,
    as_classification_data,
    experience_classes,
    make_loader,
)
from clhost.errors import ParameterError


def numbered(n: int, start: int = 0, task: int = 0) -> TensorData:
    """Sample ``i`` has input ``start + i``, label ``(start + i) % 3`` and an extra ``-i``."""
    ids = torch.arange(start, start + n)
    return TensorData(ids[:, None].float(), ids % 3, task, {"logits": -ids[:, None].float()})


# --- TensorData --------------------------------------------------------------------------


def test_subset_is_a_copy_that_keeps_extras():
    data = numbered(6)
    part = data.subset([4, 1])
    assert part.x[:, 0].tolist() == [4.0, 1.0] and part.y.tolist() == [1, 1]
    assert part.extras["logits"][:, 0].tolist() == [-4.0, -1.0]
    part.x += 100
    assert data.x[4, 0] == 4.0  # a real copy: stored memories never alias the stream


def test_concat_keeps_only_shared_extras_and_skips_empty_parts():
    a, b = numbered(2), numbered(3, start=2, task=1)
    joined = TensorData.concat([a, TensorData(torch.zeros(0, 1), torch.zeros(0)), b])
    assert joined.x[:, 0].tolist() == [0, 1, 2, 3, 4] and joined.t.tolist() == [0, 0, 1, 1, 1]
    assert list(joined.extras) == ["logits"]
    plain = TensorData.concat([a, TensorData(b.x, b.y, b.t)])
    assert plain.extras == {} and len(plain.tensors) == 3
    with pytest.raises(ValueError, match="at least one"):
        TensorData.concat([])


def test_tensor_data_facts_and_mismatched_lengths():
    data = numbered(5, task=2).with_extra("weight", torch.ones(5))
    assert data.classes == [0, 1, 2] and data.task_set == [2]
    assert list(data.extras) == ["logits", "weight"] and len(data[0]) == 5
    assert data.nbytes() == 5 * (4 + 8 + 8 + 4 + 4)
    with pytest.raises(ValueError, match="x has 2 rows but y has 3"):
        TensorData(torch.zeros(2, 1), torch.zeros(3))


def test_user_data_becomes_tensor_data_or_gets_task_labels():
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 0, 1])
    assert isinstance(as_classification_data((x, y), task_label=3), TensorData)
    assert as_classification_data(TensorDataset(x, y), 3).t.tolist() == [3] * 4
    listed = as_classification_data([(x[i], int(y[i])) for i in range(4)], task_label=5)
    assert isinstance(listed, TaskLabelled) and listed[2][1:] == (0, 5)
    with pytest.raises(TypeError, match="expected a dataset"):
        as_classification_data(42)


# --- loaders -----------------------------------------------------------------------------


def test_batch_loader_slices_in_order_or_shuffles_each_sample_once():
    data = numbered(10)
    batches = list(TensorBatchLoader(data, 4))
    assert [len(b[0]) for b in batches] == [4, 4, 2] and len(TensorBatchLoader(data, 4)) == 3
    assert len(batches[0]) == 4  # x, y, t and the extra
    dropped = TensorBatchLoader(data, 4, drop_last=True)
    assert len(dropped) == 2 and [len(b[0]) for b in dropped] == [4, 4]
    generator = torch.Generator().manual_seed(0)
    shuffled = [b[0][:, 0] for b in TensorBatchLoader(data, 4, shuffle=True, generator=generator)]
    order = torch.cat(shuffled).long().tolist()
    assert sorted(order) == list(range(10)) and order != list(range(10))
    for batch in TensorBatchLoader(data, 3, shuffle=True):
        assert torch.equal(batch[1], batch[0][:, 0].long() % 3)  # rows stay aligned
    with pytest.raises(ValueError, match="batch_size"):
        TensorBatchLoader(data, 0)


def test_cycling_loader_never_runs_out():
    loader = CyclingLoader(numbered(5), batch_size=2, generator=torch.Generator().manual_seed(1))
    seen = torch.cat([loader.next()[0][:, 0] for _ in range(6)]).long()
    assert len(seen) == 12 - 2  # passes of 2 + 2 + 1 samples
    assert sorted(seen[:5].tolist()) == sorted(seen[5:].tolist()) == list(range(5))


def test_replay_loader_joins_a_memory_batch_to_every_current_batch():
    current, memory = numbered(6), numbered(3, start=100, task=1)
    loader = ReplayLoader(current, memory, batch_size=4, batch_size_mem=2)
    batches = list(loader)
    assert len(loader) == 2
    # memory batches cycle over passes of the memory: 2 samples, then the last 1
    assert [int((b[0][:, 0] >= 100).sum()) for b in batches] == [2, 1]
    assert [int((b[2] == 1).sum()) for b in batches] == [2, 1]
    stored = torch.cat([b[0][:, 0] for b in batches])
    assert sorted(stored[stored >= 100].tolist()) == [100, 101, 102]
    assert all(len(b) == 4 for b in batches)  # both sides have the extra, so it is kept
    only_current = list(ReplayLoader(current, TensorData(torch.zeros(0, 1), []), 4, 2))
    assert [len(b[0]) for b in only_current] == [4, 2]


def test_make_loader_slices_tensors_and_uses_dataloader_otherwise():
    assert isinstance(make_loader(numbered(4), 2, shuffle=False), TensorBatchLoader)
    listed = TaskLabelled([(torch.zeros(2), 1)] * 4, 0)
    assert isinstance(make_loader(listed, 2, shuffle=False), DataLoader)


# --- experiences, streams, benchmarks ----------------------------------------------------


def test_experience_facts_and_online_defaults():
    exp = Experience(numbered(3), 2, "test", (0, 1, 2), (4,))
    assert len(exp) == 3 and exp.task_label == 4 and "test[2]" in repr(exp)
    assert exp.origin_experience is None and exp.is_first_subexp and exp.is_last_subexp
    with pytest.raises(ValueError, match="task labels"):
        _ = Experience(numbered(3), 0, task_labels=(0, 1)).task_label


def test_experience_classes_from_the_experience_else_its_tensors():
    named = Experience(numbered(3), 0, classes_in_this_experience=(7, 2))
    assert experience_classes(named) == [2, 7]  # what the experience says, sorted
    tensors = TensorDataset(torch.zeros(4, 1), torch.tensor([3, 1, 3, 1]))
    assert experience_classes(Experience(tensors, 0)) == [1, 3]  # else its labels
    with pytest.raises(ParameterError, match="experience 5 names no classes"):
        experience_classes(Experience([(torch.zeros(1), 0)], 5))


def test_stream_slices_keep_the_name_and_benchmark_counts_tasks():
    experiences = [Experience(numbered(2), i, "train", task_labels=(i % 2,)) for i in range(4)]
    stream = Stream("train", experiences)
    assert len(stream) == 4 and stream[1] is experiences[1]
    assert stream[1:3].name == "train" and len(stream[1:3]) == 2
    benchmark = Benchmark("b", stream, stream[:2], 3, (1,), {"valid": stream[3:]})
    assert benchmark.n_experiences == 4 and benchmark.n_tasks == 2
    assert list(benchmark.streams) == ["train", "test", "valid"]
