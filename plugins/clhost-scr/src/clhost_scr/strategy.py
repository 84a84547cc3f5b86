"""SCR: a supervised strategy with the SCR plugin, its model wrapper and its loss."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from clhost.errors import ParameterError
from clhost.templates import SupervisedTemplate
from clhost_scr.augment import Augmentation, AugmentationName
from clhost_scr.model import SCRModel
from clhost_scr.plugin import SCRPlugin

DEFAULT_PROJECTION_SIZE = 128


class SCR(SupervisedTemplate):
    """Supervised Contrastive Replay (Mai et al., 2021).

    ``model`` is an ``SCRModel`` or a model with ``features`` and a ``classifier``: its
    features are then wrapped with a projection head of ``projection_size`` units
    (default 128), whose parameters join ``optimizer`` as a new parameter group, and which
    takes the normalised features with ``normalize_before_projection`` (see
    ``SCRModel``; default: the raw ones, as in the paper). Training
    uses ``SCRPlugin(augmentations, mem_size, batch_size_mem, temperature)`` and its loss;
    prediction is by the nearest class mean of the memory's features. For online
    continual learning train on ``split_online`` mini-experiences, one epoch each.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        augmentations: AugmentationName | Augmentation = "auto",
        mem_size: int = 100,
        temperature: float = 0.1,
        batch_size_mem: int = 100,
        projection_size: int | None = None,
        normalize_before_projection: bool | None = None,
        train_mb_size: int = 10,
        **kwargs: Any,
    ):
        if "criterion" in kwargs:
            raise ParameterError("SCR trains with its own SCRLoss; do not pass a criterion")
        if isinstance(model, SCRModel):
            for name, value in (
                ("projection_size", projection_size),
                ("normalize_before_projection", normalize_before_projection),
            ):
                if value is not None:
                    raise ParameterError(f"{name} is for wrapping a model; SCRModel has its own")
        else:
            model = SCRModel.from_model(
                model, projection_size or DEFAULT_PROJECTION_SIZE, bool(normalize_before_projection)
            )
        add_missing_parameters(optimizer, model)
        plugin = SCRPlugin(
            augmentations=augmentations,
            mem_size=mem_size,
            batch_size_mem=batch_size_mem,
            temperature=temperature,
        )
        super().__init__(
            model=model,
            optimizer=optimizer,
            criterion=plugin.criterion,
            train_mb_size=train_mb_size,
            plugins=[plugin, *kwargs.pop("plugins", ())],
            **kwargs,
        )


def add_missing_parameters(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """Give ``optimizer`` the parameters of ``model`` it lacks (a new projection head), as
    one new group with the optimizer's default settings."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    missing = [p for p in model.parameters() if id(p) not in held]
    if missing:
        optimizer.add_param_group({"params": missing})
