"""Averaged Gradient Episodic Memory (Chaudhry, Ranzato, Rohrbach & Elhoseiny, 2019)."""

from clhost_agem.plugin import AGEMPlugin, project_away
from clhost_agem.strategy import AGEM

__all__ = ["AGEM", "AGEMPlugin", "project_away"]
