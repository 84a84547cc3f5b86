"""CoPE: a supervised strategy with the CoPE plugin and its loss."""

from __future__ import annotations

from typing import Any

from clhost.errors import ParameterError
from clhost.templates import SupervisedTemplate
from clhost_cope.plugin import CoPEPlugin


class CoPE(SupervisedTemplate):
    """Continual Prototype Evolution (De Lange & Tuytelaars, ICCV 2021).

    ``SupervisedTemplate`` with ``CoPEPlugin(mem_size, n_classes, p_size, alpha, T,
    max_it_cnt)`` first among its plugins and the plugin's PPP loss as criterion. The
    model must output ``p_size`` features. For online continual learning train on
    ``split_online`` mini-experiences, one epoch each.
    """

    def __init__(
        self,
        *,
        mem_size: int = 200,
        n_classes: int = 10,
        p_size: int = 10,
        alpha: float = 0.99,
        T: float = 0.1,
        max_it_cnt: int = 1,
        train_mb_size: int = 10,
        **kwargs: Any,
    ):
        if "criterion" in kwargs:
            raise ParameterError("CoPE trains with its own PPP loss; do not pass a criterion")
        plugin = CoPEPlugin(
            mem_size=mem_size,
            n_classes=n_classes,
            p_size=p_size,
            alpha=alpha,
            T=T,
            max_it_cnt=max_it_cnt,
        )
        super().__init__(
            criterion=plugin.criterion,
            train_mb_size=train_mb_size,
            plugins=[plugin, *kwargs.pop("plugins", ())],
            **kwargs,
        )
