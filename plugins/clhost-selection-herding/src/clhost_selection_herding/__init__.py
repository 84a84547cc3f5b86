"""Herding selection (iCaRL): exemplars whose running mean best tracks the group mean."""

from clhost_selection_herding.selection import HerdingSelectionStrategy

__all__ = ["HerdingSelectionStrategy"]
