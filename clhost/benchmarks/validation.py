"""Hold out part of every training experience as a validation stream (for early stopping)."""

from __future__ import annotations

import dataclasses

import torch

from clhost.benchmarks._datasets import select
from clhost.data import Benchmark, Experience, Stream
from clhost.errors import ParameterError

VALID_STREAM = "valid"


def with_validation_stream(
    benchmark: Benchmark, fraction: float, *, seed: int = 0, name: str = VALID_STREAM
) -> Benchmark:
    """``benchmark`` with a random ``fraction`` of each train experience moved to a stream
    called ``name`` (experience ``i`` of it is held out of train experience ``i``).

    The split depends only on ``seed`` and the experience's position, so the same call
    gives the same split every time (a resumed run validates on the same samples). Each
    experience keeps at least one training and one validation sample. The test stream is
    untouched: validation never sees test data.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise ParameterError(f"validation fraction must be a number, got {fraction!r}")
    if not 0 < fraction < 1:
        raise ParameterError(f"validation fraction must be between 0 and 1, got {fraction!r}")
    if name in benchmark.streams:
        raise ParameterError(f"benchmark {benchmark.name!r} already has a stream {name!r}")
    train, valid = [], []
    for experience in benchmark.train_stream:
        kept, held = _split(experience, fraction, seed, name)
        train.append(kept)
        valid.append(held)
    return dataclasses.replace(
        benchmark,
        train_stream=Stream(benchmark.train_stream.name, train),
        other_streams={**benchmark.other_streams, name: Stream(name, valid)},
    )


def _split(
    experience: Experience, fraction: float, seed: int, name: str
) -> tuple[Experience, Experience]:
    n = len(experience)
    n_valid = max(1, round(fraction * n))
    if n_valid >= n:
        raise ParameterError(
            f"validation fraction {fraction} leaves no training sample in train experience "
            f"{experience.current_experience} ({n} samples)"
        )
    generator = torch.Generator().manual_seed(seed * 1_000_003 + experience.current_experience)
    order = torch.randperm(n, generator=generator)
    held, kept = order[:n_valid].sort().values, order[n_valid:].sort().values
    return (
        dataclasses.replace(experience, dataset=select(experience.dataset, kept)),
        dataclasses.replace(
            experience, dataset=select(experience.dataset, held), origin_stream=name
        ),
    )
