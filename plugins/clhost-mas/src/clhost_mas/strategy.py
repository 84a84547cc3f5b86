"""MAS as a strategy: the supervised template with a ``MASPlugin`` first in line."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_mas.plugin import MASPlugin


class MAS(SupervisedTemplate):
    """Supervised training with Memory Aware Synapses; see ``MASPlugin``."""

    def __init__(self, *, lambda_reg: float = 1.0, alpha: float = 0.5, **kwargs: Any):
        plugin = MASPlugin(lambda_reg=lambda_reg, alpha=alpha)
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
