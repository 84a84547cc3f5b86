"""RWalk as a strategy: the supervised template with an ``RWalkPlugin`` first in line."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_rwalk.plugin import RWalkPlugin


class RWalk(SupervisedTemplate):
    """Riemannian Walk (Chaudhry et al., 2018): supervised training with a pull towards
    earlier parameters weighted by an online Fisher plus path scores. The parameters are
    ``RWalkPlugin``'s, which documents them."""

    def __init__(
        self,
        *,
        ewc_lambda: float = 0.1,
        ewc_alpha: float = 0.9,
        delta_t: int = 10,
        **kwargs: Any,
    ):
        plugin = RWalkPlugin(ewc_lambda=ewc_lambda, ewc_alpha=ewc_alpha, delta_t=delta_t)
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
