"""EWC as a strategy: the supervised template with an ``EWCPlugin`` first in line."""

from __future__ import annotations

from typing import Any, Literal

from clhost.templates import SupervisedTemplate
from clhost_ewc.plugin import EWCPlugin


class EWC(SupervisedTemplate):
    """Elastic Weight Consolidation (Kirkpatrick et al., 2017): supervised training with a
    Fisher-weighted pull towards the parameters earlier experiences ended at. The
    parameters are ``EWCPlugin``'s, which documents them."""

    def __init__(
        self,
        *,
        ewc_lambda: float = 1000.0,
        mode: Literal["separate", "online"] = "separate",
        decay_factor: float | None = None,
        keep_importance_data: bool = False,
        **kwargs: Any,
    ):
        plugin = EWCPlugin(
            ewc_lambda=ewc_lambda,
            mode=mode,
            decay_factor=decay_factor,
            keep_importance_data=keep_importance_data,
        )
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
