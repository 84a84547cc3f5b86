"""Random exemplar selection: every subset of a given size is equally likely to be kept."""

from clhost_selection_random.selection import RandomExemplarsSelectionStrategy

__all__ = ["RandomExemplarsSelectionStrategy"]
