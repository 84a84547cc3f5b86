"""Gradient based Sample Selection, greedy variant (Aljundi et al., 2019)."""

from clhost_gss.gradients import per_sample_gradients
from clhost_gss.memory import GradientDiverseMemory
from clhost_gss.plugin import GSS_greedyPlugin
from clhost_gss.strategy import GSS_greedy

__all__ = ["GSS_greedy", "GSS_greedyPlugin", "GradientDiverseMemory", "per_sample_gradients"]
