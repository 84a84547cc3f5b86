"""Class-balanced buffer: equal shares per class as classes arrive, resize and state."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from clhost.data import TensorData
from clhost.errors import ParameterError
from clhost.testing import state_round_trip, toy_benchmark
from clhost_buffer_class_balanced import ClassBalancedBuffer


def class_counts(buffer: ClassBalancedBuffer) -> dict[int, int]:
    return dict(sorted(Counter(buffer.buffer.y.tolist()).items()))


def test_adaptive_shares_after_each_of_five_experiences_of_two_classes():
    torch.manual_seed(0)
    stream = toy_benchmark(5, 2, n_per_class=120).train_stream
    buffer = ClassBalancedBuffer(200)
    per_class = []
    for experience in stream:
        buffer.update(SimpleNamespace(experience=experience))
        per_class.append(list(class_counts(buffer).values()))
        assert len(buffer) == 200 and buffer.seen_classes == list(range(len(per_class[-1])))
    assert per_class == [[100] * 2, [50] * 4, [34, 34, 33, 33, 33, 33], [25] * 8, [20] * 10]


def test_fixed_shares_are_set_by_the_total_number_of_classes():
    torch.manual_seed(0)
    stream = toy_benchmark(5, 2, n_per_class=60).train_stream
    buffer = ClassBalancedBuffer(200, adaptive_size=False, total_num_classes=10)
    buffer.update(SimpleNamespace(experience=stream[0]))
    assert class_counts(buffer) == {0: 20, 1: 20}
    buffer.update(SimpleNamespace(experience=stream[1]))
    assert class_counts(buffer) == {0: 20, 1: 20, 2: 20, 3: 20}
    with pytest.raises(ParameterError, match="total_num_groups"):
        ClassBalancedBuffer(200, adaptive_size=False)


def test_more_classes_than_announced_is_an_error():
    buffer = ClassBalancedBuffer(10, total_num_classes=2)
    with pytest.raises(ValueError, match="2 groups"):
        buffer.update_from_data(TensorData(torch.zeros(3, 1), torch.tensor([0, 1, 2])))


def test_a_class_met_again_keeps_samples_from_all_its_experiences():
    torch.manual_seed(0)
    buffer = ClassBalancedBuffer(40)
    for start in (0, 1000):  # class 0 and class 1 in both experiences
        x = torch.arange(start, start + 200, dtype=torch.float32).unsqueeze(1)
        buffer.update_from_data(TensorData(x, torch.arange(200) % 2))
    assert class_counts(buffer) == {0: 20, 1: 20}
    old = (buffer.buffer.x < 1000).sum().item()
    assert 10 <= old <= 30, "about half of each class comes from each experience"


def test_resize_gives_every_class_its_new_share_and_no_more_memory_than_held():
    torch.manual_seed(0)
    x = torch.randn(300, 16)
    buffer = ClassBalancedBuffer(90)
    buffer.update_from_data(TensorData(x, torch.arange(300) % 3))
    buffer.resize(None, 30)
    assert class_counts(buffer) == {0: 10, 1: 10, 2: 10}
    for group in buffer.buffer_groups.values():
        stored = group.buffer.x
        assert stored.untyped_storage().nbytes() == stored.nbytes, "copies, not views"


def test_state_round_trip_restores_groups_and_future_behaviour():
    torch.manual_seed(0)
    stream = toy_benchmark(3, 2).train_stream
    buffer = ClassBalancedBuffer(30)
    for experience in stream[:2]:
        buffer.update(SimpleNamespace(experience=experience))
    restored = state_round_trip(buffer, ClassBalancedBuffer(5))
    assert torch.equal(restored.buffer.x, buffer.buffer.x)
    for target in (buffer, restored):
        torch.manual_seed(3)
        target.update(SimpleNamespace(experience=stream[2]))
    assert torch.equal(restored.buffer.x, buffer.buffer.x)
    assert class_counts(restored) == {c: 5 for c in range(6)}
