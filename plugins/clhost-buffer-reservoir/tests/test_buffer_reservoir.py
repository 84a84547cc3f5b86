"""Reservoir sampling: sizes, uniformity over everything seen, resize and state."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from clhost.data import Experience, TensorData
from clhost.errors import CheckpointError, ParameterError
from clhost.testing import state_round_trip
from clhost_buffer_reservoir import ReservoirSamplingBuffer


def numbered(n: int, start: int = 0) -> TensorData:
    """Samples whose single feature is their position in the stream."""
    return TensorData(
        torch.arange(start, start + n, dtype=torch.float32).unsqueeze(1), torch.zeros(n)
    )


def held(buffer: ReservoirSamplingBuffer) -> list[int]:
    return buffer.buffer.x[:, 0].long().tolist()


def test_fills_up_to_max_size_then_stays_full():
    torch.manual_seed(0)
    buffer = ReservoirSamplingBuffer(50)
    sizes = []
    for step in range(4):
        buffer.update_from_data(numbered(30, start=30 * step))
        sizes.append(len(buffer))
    assert sizes == [30, 50, 50, 50]
    assert len(set(held(buffer))) == 50 and all(0 <= i < 120 for i in held(buffer))
    assert len(buffer.keys) == 50  # one key per sample held


def test_update_reads_the_strategy_experience():
    torch.manual_seed(0)
    buffer = ReservoirSamplingBuffer(5)
    buffer.update(SimpleNamespace(experience=Experience(numbered(3), 0)))
    assert sorted(held(buffer)) == [0, 1, 2]


def test_zero_size_holds_nothing_and_negative_size_is_refused():
    buffer = ReservoirSamplingBuffer(0)
    buffer.update_from_data(numbered(10))
    assert len(buffer) == 0
    with pytest.raises(ParameterError, match="max_size"):
        ReservoirSamplingBuffer(-3)


def inclusion_counts(trials: int) -> tuple[torch.Tensor, torch.Tensor]:
    """How often each sample is held: after 10 experiences of 100 into 100 slots, and after
    a resize to 50 and 5 more experiences (1500 samples seen)."""
    first, second = torch.zeros(1000), torch.zeros(1500)
    for _ in range(trials):
        buffer = ReservoirSamplingBuffer(100)
        for step in range(10):
            buffer.update_from_data(numbered(100, start=100 * step))
        first[held(buffer)] += 1
        buffer.resize(None, 50)
        for step in range(10, 15):
            buffer.update_from_data(numbered(100, start=100 * step))
        second[held(buffer)] += 1
    return first, second


def test_every_sample_seen_is_equally_likely_to_be_held_before_and_after_a_resize():
    torch.manual_seed(1234)
    trials = 400
    first, second = inclusion_counts(trials)
    for counts, slots in ((first, 100), (second, 50)):
        n = len(counts)
        p = slots / n
        expected, variance = trials * p, trials * p * (1 - p)
        chi_square = (((counts - expected) ** 2) / variance).sum().item()
        # About n +- sqrt(2n) when uniform; a bias towards old or new samples is far above.
        assert chi_square < n + 5 * (2 * n) ** 0.5, chi_square
        per_experience = counts.view(-1, 100).sum(dim=1) / trials
        assert torch.allclose(
            per_experience,
            torch.full_like(per_experience, slots * 100 / n),
            atol=0.5 if slots == 50 else 1.0,
        ), per_experience


def test_shrinking_keeps_the_largest_keys_and_growing_makes_room():
    torch.manual_seed(0)
    buffer = ReservoirSamplingBuffer(20)
    buffer.update_from_data(numbered(20))
    top = buffer.keys.topk(8).indices
    before_keys, before = buffer.keys[top], [held(buffer)[i] for i in top.tolist()]
    buffer.resize(None, 8)
    assert buffer.max_size == 8 and sorted(held(buffer)) == sorted(before)
    assert torch.equal(buffer.keys.sort().values, before_keys.sort().values)
    buffer.resize(None, 30)
    buffer.update_from_data(numbered(22, start=100))
    assert len(buffer) == 30 and set(before[:8]) <= set(held(buffer)) | set(range(20))
    with pytest.raises(ParameterError, match="new_size"):
        buffer.resize(None, -1)


def test_extras_follow_their_samples_and_can_be_replaced():
    torch.manual_seed(0)
    buffer = ReservoirSamplingBuffer(6)
    data = numbered(10)
    buffer.update_from_data(data.with_extra("logits", data.x * 2))
    assert torch.equal(buffer.buffer.extras["logits"], buffer.buffer.x * 2)
    buffer.buffer = buffer.buffer.with_extra("logits", torch.zeros(6, 1))
    assert buffer.buffer.extras["logits"].abs().sum() == 0
    with pytest.raises(ValueError, match="6 samples"):
        buffer.buffer = numbered(2)


def test_state_round_trip_restores_samples_keys_and_future_behaviour():
    torch.manual_seed(0)
    buffer = ReservoirSamplingBuffer(10)
    buffer.update_from_data(numbered(25))
    restored = state_round_trip(buffer, ReservoirSamplingBuffer(1))
    assert restored.max_size == 10 and held(restored) == held(buffer)
    for target in (buffer, restored):
        torch.manual_seed(7)
        target.update_from_data(numbered(25, start=25))
    assert held(restored) == held(buffer)


def test_state_without_keys_is_a_checkpoint_error():
    state = ReservoirSamplingBuffer(3).state_dict()
    del state["keys"]
    with pytest.raises(CheckpointError, match="keys"):
        ReservoirSamplingBuffer(3).load_state_dict(state)
