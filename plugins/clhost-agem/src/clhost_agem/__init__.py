"""Averaged Gradient Episodic Memory (Chaudhry, Ranzato, Rohrbach & Elhoseiny, 2019)."""

from clhost_agem.agem import AGEM, AGEMPlugin, project_away

__all__ = ["AGEM", "AGEMPlugin", "project_away"]
