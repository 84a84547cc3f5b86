"""CoPE: a supervised strategy with the CoPE plugin and its loss."""

from __future__ import annotations

from typing import Any

from clhost.errors import ParameterError
from clhost.templates import SupervisedTemplate
from clhost_cope.plugin import CoPEPlugin


class CoPE(SupervisedTemplate, plugin=CoPEPlugin):
    """Continual Prototype Evolution (De Lange & Tuytelaars, ICCV 2021): the parameters
    are ``CoPEPlugin``'s, and the plugin's PPP loss is the criterion. The model must
    output ``p_size`` features. For online continual learning train on ``split_online``
    mini-experiences, one epoch each.
    """

    def __init__(self, *, train_mb_size: int = 10, plugins: list[Any], **kwargs: Any):
        if "criterion" in kwargs:
            raise ParameterError("CoPE trains with its own PPP loss; do not pass a criterion")
        criterion = plugins[0].criterion
        super().__init__(
            criterion=criterion, train_mb_size=train_mb_size, plugins=plugins, **kwargs
        )
