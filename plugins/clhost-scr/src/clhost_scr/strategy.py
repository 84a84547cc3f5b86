"""SCR: a supervised strategy with the SCR plugin, its model wrapper and its loss."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from clhost.errors import ParameterError
from clhost.templates import SupervisedTemplate
from clhost_scr.model import scr_model
from clhost_scr.plugin import SCRPlugin


class SCR(SupervisedTemplate, plugin=SCRPlugin):
    """Supervised Contrastive Replay (Mai et al., 2021); the parameters are ``SCRPlugin``'s.

    ``model`` is an ``SCRModel`` or a model with ``features`` and a ``classifier``: its
    features are then wrapped with a projection head of ``projection_size`` units
    (default 128), whose parameters join ``optimizer`` as a new parameter group, and which
    takes the normalised features with ``normalize_before_projection`` (see
    ``SCRModel``; default: the raw ones, as in the paper). Training uses the plugin's
    loss; prediction is by the nearest class mean of the memory's features. For online
    continual learning train on ``split_online`` mini-experiences, one epoch each.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        projection_size: int | None = None,
        normalize_before_projection: bool | None = None,
        train_mb_size: int = 10,
        plugins: list[Any],
        **kwargs: Any,
    ):
        if "criterion" in kwargs:
            raise ParameterError("SCR trains with its own SCRLoss; do not pass a criterion")
        kwargs["model"] = scr_model(model, optimizer, projection_size, normalize_before_projection)
        kwargs["criterion"] = plugins[0].criterion
        super().__init__(
            optimizer=optimizer, train_mb_size=train_mb_size, plugins=plugins, **kwargs
        )
