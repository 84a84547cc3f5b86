"""SCRModel: a feature extractor with a projection head used only for training."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from clhost.capabilities import PROJECTION_HEAD, Capabilities
from clhost.errors import ParameterError
from clhost.models import MultiTaskModule


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
        if not isinstance(normalize_before_projection, bool):
            raise ParameterError(
                f"normalize_before_projection must be a bool, got {normalize_before_projection!r}"
            )
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
        if (
            isinstance(projection_size, bool)
            or not isinstance(projection_size, int)
            or projection_size < 1
        ):
            raise ParameterError(
                f"projection_size must be a positive integer, got {projection_size!r}"
            )
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
