"""Reservoir sampling: a replay buffer holding a uniform sample of every sample seen."""

from clhost_buffer_reservoir.reservoir import ReservoirSamplingBuffer

__all__ = ["ReservoirSamplingBuffer"]
