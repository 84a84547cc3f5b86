"""A clhost ``Benchmark`` that also answers Avalanche's ``<name>_stream`` attributes."""

from __future__ import annotations

import dataclasses
from typing import Any

from clhost.benchmarks import with_validation_stream
from clhost.data import Benchmark, Stream
from clhost_avalanche._exports import not_supported


@dataclasses.dataclass
class AvalancheBenchmark(Benchmark):
    """``benchmark.valid_stream`` (any stream by its Avalanche attribute name) and
    ``benchmark.streams`` as in Avalanche, on clhost's benchmark."""

    def __getattr__(self, name: str) -> Stream:
        other = name.removesuffix("_stream")
        if name.endswith("_stream") and other in self.__dict__.get("other_streams", {}):
            return self.other_streams[other]
        raise AttributeError(f"benchmark has no attribute {name!r}")


def avalanche_benchmark(benchmark: Benchmark) -> AvalancheBenchmark:
    """``benchmark`` with Avalanche's stream attributes."""
    fields = {f.name: getattr(benchmark, f.name) for f in dataclasses.fields(Benchmark)}
    return AvalancheBenchmark(**fields)


def benchmark_with_validation_stream(
    benchmark: Benchmark,
    validation_size: float = 0.5,
    shuffle: bool = False,
    seed: int | None = None,
    split_strategy: Any = None,
) -> AvalancheBenchmark:
    """A ``valid_stream`` of ``validation_size`` of each training experience:
    ``clhost.benchmarks.with_validation_stream`` (a seeded random split, whatever
    ``shuffle``; a fraction, not a count)."""
    if split_strategy is not None or not isinstance(validation_size, float):
        raise not_supported(
            "benchmark_with_validation_stream(split_strategy / an int validation_size)",
            "give validation_size as a fraction",
        )
    split = with_validation_stream(benchmark, validation_size, seed=seed or 0, name="valid")
    return avalanche_benchmark(split)
