"""Closest-to-center selection: the samples nearest the group's mean feature first."""

from clhost_selection_closest_to_center.selection import ClosestToCenterSelectionStrategy

__all__ = ["ClosestToCenterSelectionStrategy"]
