"""Elastic Weight Consolidation (Kirkpatrick et al., PNAS 2017) for clhost."""

from clhost_ewc.plugin import EWCPlugin
from clhost_ewc.strategy import EWC

__all__ = ["EWC", "EWCPlugin"]
