"""Gradient Episodic Memory (Lopez-Paz & Ranzato, 2017)."""

from clhost_gem.plugin import GEMPlugin
from clhost_gem.qp import gem_dual, nonnegative_qp, project_to_constraints
from clhost_gem.strategy import GEM

__all__ = ["GEM", "GEMPlugin", "gem_dual", "nonnegative_qp", "project_to_constraints"]
