"""A replay buffer grouped by class, task or experience, each group kept by a selection
strategy (random, herding, closest-to-center, ...)."""

from clhost_buffer_parametric.parametric import ParametricBuffer, SelectionBuffer

__all__ = ["ParametricBuffer", "SelectionBuffer"]
