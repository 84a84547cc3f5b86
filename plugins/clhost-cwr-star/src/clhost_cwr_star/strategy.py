"""CWR* as a strategy: the supervised template with a ``CWRStarPlugin`` first in line."""

from __future__ import annotations

from typing import Any

from torch import nn

from clhost.templates import SupervisedTemplate
from clhost_cwr_star.plugin import CWRStarPlugin


class CWRStar(SupervisedTemplate):
    """CWR* (Lomonaco & Maltoni, 2019): the representation learnt on the first experience,
    then frozen; per-class output weights consolidated after each experience
    (``CWRStarPlugin``, with ``freeze_remaining_model=True``). ``cwr_layer_name`` names the
    classifier layer (default: the model's last ``nn.Linear``); every other keyword is the
    template's."""

    def __init__(
        self,
        *,
        model: nn.Module,
        cwr_layer_name: str | None = None,
        plugins: Any = (),
        **kwargs: Any,
    ):
        plugin = CWRStarPlugin(model, cwr_layer_name, freeze_remaining_model=True)
        super().__init__(model=model, plugins=[plugin, *plugins], **kwargs)
