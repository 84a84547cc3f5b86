"""The iCaRL strategy: the supervised template with iCaRL's plugin, loss and model."""

from __future__ import annotations

from typing import Any

from torch import nn

from clhost.templates import SupervisedTemplate
from clhost_icarl.model import icarl_model
from clhost_icarl.plugin import ICaRLPlugin
from clhost_loss_icarl import ICaRLLossPlugin


class ICaRL(SupervisedTemplate, plugin=ICaRLPlugin):
    """iCaRL (Rebuffi et al., CVPR 2017); the parameters are ``ICaRLPlugin``'s.

    The model is ``feature_extractor`` followed by ``classifier`` (as in Avalanche), or a
    ``model`` with ``features`` and ``classifier`` parts such as ``SimpleMLP``. The
    criterion defaults to iCaRL's loss (``ICaRLLossPlugin``).
    """

    def __init__(
        self,
        *,
        feature_extractor: nn.Module | None = None,
        classifier: nn.Module | None = None,
        plugins: list[Any],
        **kwargs: Any,
    ):
        kwargs["model"] = icarl_model(kwargs.get("model"), feature_extractor, classifier)
        kwargs.setdefault("criterion", ICaRLLossPlugin())
        super().__init__(plugins=plugins, **kwargs)
