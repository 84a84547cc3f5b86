"""Maximally Interfered Retrieval (Aljundi et al., 2019) for online continual learning."""

from clhost_mir.plugin import MIRPlugin, interference_scores
from clhost_mir.strategy import MIR

__all__ = ["MIR", "MIRPlugin", "interference_scores"]
