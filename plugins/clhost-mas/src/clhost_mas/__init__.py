"""Memory Aware Synapses (Aljundi et al., ECCV 2018) for clhost."""

from clhost_mas.plugin import MASPlugin
from clhost_mas.strategy import MAS

__all__ = ["MAS", "MASPlugin"]
