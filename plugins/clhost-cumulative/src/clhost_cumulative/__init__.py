"""Cumulative training for clhost: every experience is trained on all data seen so far."""

from clhost_cumulative.plugin import CumulativePlugin
from clhost_cumulative.strategy import Cumulative

__all__ = ["Cumulative", "CumulativePlugin"]
