"""A replay buffer grouped by class, task or experience, each group kept by a selection
strategy (random, herding, closest-to-center, ...)."""

from clhost_buffer_parametric.buffer import ParametricBuffer, SelectionBuffer

__all__ = ["ParametricBuffer", "SelectionBuffer"]
