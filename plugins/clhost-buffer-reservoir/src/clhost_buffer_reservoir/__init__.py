"""Reservoir sampling: a replay buffer holding a uniform sample of every sample seen."""

from clhost_buffer_reservoir.buffer import ReservoirSamplingBuffer

__all__ = ["ReservoirSamplingBuffer"]
