"""SCRModel: a feature extractor with a projection head used only for training."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from clhost.capabilities import PROJECTION_HEAD, Capabilities
from clhost.errors import ParameterError
from clhost.models import MultiTaskModule
from clhost.validate import boolean, positive_int

DEFAULT_PROJECTION_SIZE = 128


class SCRModel(nn.Module):
    """Feature extractor + projection head, as SCR trains them (Mai et al., 2021).

    In training mode ``forward`` returns the L2-normalised projection of the features
    (what the contrastive loss compares); in eval mode the L2-normalised features
    themselves (what the nearest-class-mean classifier compares). ``embed`` gives the
    normalised features in either mode.

    The projection head takes the raw features, as in the paper's code (SupCon's
    ``normalize(head(encoder(x)))``); with ``normalize_before_projection`` it takes the
    normalised ones, the very vectors the classifier compares (Avalanche's ``SCRModel``).
    """

    capabilities = Capabilities(provides={PROJECTION_HEAD})

    def __init__(
        self,
        feature_extractor: nn.Module,
        projection: nn.Module,
        normalize_before_projection: bool = False,
    ):
        super().__init__()
        boolean("normalize_before_projection", normalize_before_projection)
        self.feature_extractor = feature_extractor
        self.projection = projection
        self.normalize_before_projection = normalize_before_projection

    @classmethod
    def from_model(
        cls, model: nn.Module, projection_size: int = 128, normalize_before_projection: bool = False
    ) -> SCRModel:
        """Wrap ``model.features`` (or ``model.feature_extractor``) with a two-layer
        projection head to ``projection_size`` units, as in SCR. The feature width is read
        from ``model.classifier.in_features``; ``model``'s classifier is not used."""
        positive_int("projection_size", projection_size)
        if isinstance(model, MultiTaskModule):
            raise ParameterError(
                f"SCR predicts by the nearest class mean in one feature space and ignores task "
                f"labels: the heads of {type(model).__name__} would never be used, and classes "
                "numbered from zero in each task would share a mean; give a single-head model"
            )
        extractor = getattr(model, "feature_extractor", None)
        if extractor is None:
            extractor = getattr(model, "features", None)
        width = getattr(getattr(model, "classifier", None), "in_features", None)
        if not isinstance(extractor, nn.Module) or not isinstance(width, int):
            raise ParameterError(
                f"cannot find the features of {type(model).__name__}: give a model with "
                "`features` (or `feature_extractor`) and a `classifier` with `in_features`, "
                "or build SCRModel(feature_extractor, projection) yourself"
            )
        head = projection_head(width, projection_size)
        return cls(extractor, head, normalize_before_projection)

    def embed(self, x: Tensor) -> Tensor:
        """The L2-normalised features of ``x``."""
        return F.normalize(self.feature_extractor(x).flatten(1), dim=1)

    def forward(self, x: Tensor) -> Tensor:
        features = self.feature_extractor(x).flatten(1)
        if not self.training:
            return F.normalize(features, dim=1)
        if self.normalize_before_projection:
            features = F.normalize(features, dim=1)
        return F.normalize(self.projection(features), dim=1)


def projection_head(width: int, size: int = 128) -> nn.Sequential:
    """``Linear(width, width) -> ReLU -> Linear(width, size)``: SCR's projection head."""
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, size))


def scr_model(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    projection_size: int | None,
    normalize_before_projection: bool | None,
) -> SCRModel:
    """The SCR strategy's model: ``model`` if it is an ``SCRModel``, else its features
    wrapped with a projection head (``SCRModel.from_model``), whose parameters join
    ``optimizer`` as a new group with the optimizer's default settings."""
    if isinstance(model, SCRModel):
        for name, value in (
            ("projection_size", projection_size),
            ("normalize_before_projection", normalize_before_projection),
        ):
            if value is not None:
                raise ParameterError(f"{name} is for wrapping a model; SCRModel has its own")
        return model
    wrapped = SCRModel.from_model(
        model, projection_size or DEFAULT_PROJECTION_SIZE, bool(normalize_before_projection)
    )
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    missing = [p for p in wrapped.parameters() if id(p) not in held]
    if missing:
        optimizer.add_param_group({"params": missing})
    return wrapped
