"""MAS as a strategy: the supervised template with a ``MASPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_mas.plugin import MASPlugin


class MAS(SupervisedTemplate, plugin=MASPlugin):
    """Memory Aware Synapses (Aljundi et al., 2018): supervised training with a pull towards
    earlier parameters weighted by how sensitive the output is to each. The parameters
    are ``MASPlugin``'s, which documents them."""
