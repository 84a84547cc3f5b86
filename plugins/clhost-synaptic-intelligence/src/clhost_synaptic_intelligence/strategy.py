"""Synaptic Intelligence as a strategy: the supervised template with its plugin first."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_synaptic_intelligence.plugin import SynapticIntelligencePlugin


class SynapticIntelligence(SupervisedTemplate):
    """Synaptic Intelligence (Zenke et al., 2017): supervised training with a pull towards
    earlier parameters weighted by each one's path-integral importance. The parameters are
    ``SynapticIntelligencePlugin``'s, which documents them."""

    def __init__(
        self,
        *,
        si_lambda: float = 0.1,
        eps: float = 1e-3,
        excluded_parameters: tuple[str, ...] = (),
        max_importance: float | None = None,
        **kwargs: Any,
    ):
        plugin = SynapticIntelligencePlugin(
            si_lambda=si_lambda,
            eps=eps,
            excluded_parameters=excluded_parameters,
            max_importance=max_importance,
        )
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
