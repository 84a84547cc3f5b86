"""Rehearsal: the bases of replay buffers and of exemplar selection strategies.

Concrete buffers (reservoir, class-balanced, ...) and selection strategies (random,
herding, ...) ship as their own distributions under the ``clhost.buffers`` and
``clhost.selection`` entry-point groups; they all build on these bases.
"""

from clhost.rehearsal.buffers import BalancedExemplarsBuffer, ExemplarsBuffer
from clhost.rehearsal.data import experience_tensors, tensor_data_from_state, tensor_data_state
from clhost.rehearsal.selection import (
    ExemplarsSelectionStrategy,
    FeatureBasedExemplarsSelectionStrategy,
)
from clhost.rehearsal.sight import first_sight

__all__ = [
    "BalancedExemplarsBuffer",
    "ExemplarsBuffer",
    "ExemplarsSelectionStrategy",
    "FeatureBasedExemplarsSelectionStrategy",
    "experience_tensors",
    "first_sight",
    "tensor_data_from_state",
    "tensor_data_state",
]
