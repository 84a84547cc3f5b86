"""Experience-balanced buffer: equal shares per experience, resize and state."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from clhost.errors import ParameterError
from clhost.testing import state_round_trip, toy_benchmark
from clhost_buffer_experience_balanced import ExperienceBalancedBuffer


def per_experience(buffer: ExperienceBalancedBuffer) -> list[int]:
    return [len(buffer.buffer_groups[gid]) for gid in sorted(buffer.buffer_groups)]


def test_adaptive_shares_after_each_experience():
    torch.manual_seed(0)
    stream = toy_benchmark(3, 2).train_stream  # 100 samples per experience
    buffer = ExperienceBalancedBuffer(100)
    shares = []
    for experience in stream:
        buffer.update(SimpleNamespace(experience=experience))
        shares.append(per_experience(buffer))
    assert shares == [[100], [50, 50], [34, 33, 33]]
    classes_of_group = [
        set(buffer.buffer_groups[gid].buffer.y.tolist()) for gid in sorted(buffer.buffer_groups)
    ]
    assert classes_of_group == [{0, 1}, {2, 3}, {4, 5}], "each group holds its experience"


def test_small_experiences_leave_their_share_partly_empty():
    buffer = ExperienceBalancedBuffer(100)
    stream = toy_benchmark(2, 1, n_per_class=10).train_stream
    for experience in stream:
        buffer.update(SimpleNamespace(experience=experience))
    assert per_experience(buffer) == [10, 10]


def test_fixed_shares_and_the_announced_number_of_experiences():
    stream = toy_benchmark(3, 2).train_stream
    buffer = ExperienceBalancedBuffer(90, adaptive_size=False, num_experiences=2)
    buffer.update(SimpleNamespace(experience=stream[0]))
    assert per_experience(buffer) == [45]
    buffer.update(SimpleNamespace(experience=stream[1]))
    assert per_experience(buffer) == [45, 45]
    with pytest.raises(ValueError, match="2 groups"):
        buffer.update(SimpleNamespace(experience=stream[2]))
    with pytest.raises(ParameterError, match="total_num_groups"):
        ExperienceBalancedBuffer(90, adaptive_size=False)


def test_resize_shrinks_every_experience_to_its_new_share():
    torch.manual_seed(0)
    buffer = ExperienceBalancedBuffer(60)
    for experience in toy_benchmark(3, 2).train_stream:
        buffer.update_from_data(experience.dataset)
    buffer.resize(None, 31)
    assert buffer.max_size == 31 and per_experience(buffer) == [11, 10, 10]


def test_state_round_trip_restores_groups_and_future_behaviour():
    torch.manual_seed(0)
    stream = toy_benchmark(3, 2).train_stream
    buffer = ExperienceBalancedBuffer(30)
    for experience in stream[:2]:
        buffer.update(SimpleNamespace(experience=experience))
    restored = state_round_trip(buffer, ExperienceBalancedBuffer(3))
    assert torch.equal(restored.buffer.x, buffer.buffer.x)
    for target in (buffer, restored):
        torch.manual_seed(5)
        target.update(SimpleNamespace(experience=stream[2]))
    assert torch.equal(restored.buffer.x, buffer.buffer.x)
    assert per_experience(restored) == [10, 10, 10]
