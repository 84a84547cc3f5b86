"""MAS as a strategy: the supervised template with a ``MASPlugin`` first in line."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_mas.plugin import MASPlugin


class MAS(SupervisedTemplate):
    """Memory Aware Synapses (Aljundi et al., 2018): supervised training with a pull towards
    earlier parameters weighted by how sensitive the output is to each. The parameters
    are ``MASPlugin``'s, which documents them."""

    def __init__(self, *, lambda_reg: float = 1.0, alpha: float = 0.5, **kwargs: Any):
        plugin = MASPlugin(lambda_reg=lambda_reg, alpha=alpha)
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
