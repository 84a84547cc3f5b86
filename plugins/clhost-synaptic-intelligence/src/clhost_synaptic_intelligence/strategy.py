"""Synaptic Intelligence as a strategy: the supervised template with its plugin first."""

from clhost.templates import SupervisedTemplate
from clhost_synaptic_intelligence.plugin import SynapticIntelligencePlugin


class SynapticIntelligence(SupervisedTemplate, plugin=SynapticIntelligencePlugin):
    """Synaptic Intelligence (Zenke et al., 2017): supervised training with a pull towards
    earlier parameters weighted by each one's path-integral importance. The parameters are
    ``SynapticIntelligencePlugin``'s, which documents them."""
