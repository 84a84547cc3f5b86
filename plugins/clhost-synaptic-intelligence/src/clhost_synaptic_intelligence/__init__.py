"""Synaptic Intelligence (Zenke, Poole & Ganguli, ICML 2017) for clhost."""

from clhost_synaptic_intelligence.plugin import SynapticIntelligencePlugin
from clhost_synaptic_intelligence.strategy import SynapticIntelligence

__all__ = ["SynapticIntelligence", "SynapticIntelligencePlugin"]
