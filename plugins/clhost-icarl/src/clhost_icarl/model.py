"""The model iCaRL trains: a feature extractor followed by a classifier."""

from __future__ import annotations

from torch import Tensor, nn

from clhost.errors import ParameterError


class FeatureClassifier(nn.Module):
    """``classifier(features(x))``, with the two parts under the names every clhost
    reference model uses (``features``, ``classifier``), so iCaRL reads its features from
    the ``features`` layer of either."""

    def __init__(self, feature_extractor: nn.Module, classifier: nn.Module):
        super().__init__()
        self.features = feature_extractor
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def icarl_model(
    model: nn.Module | None, feature_extractor: nn.Module | None, classifier: nn.Module | None
) -> nn.Module:
    """The model iCaRL trains: ``model`` if it has ``features`` and ``classifier`` parts,
    else ``feature_extractor`` followed by ``classifier`` (Avalanche's way to give it)."""
    if model is not None:
        if feature_extractor is not None or classifier is not None:
            raise ParameterError("give either model or feature_extractor and classifier, not both")
        missing = [part for part in ("features", "classifier") if not hasattr(model, part)]
        if missing:
            raise ParameterError(
                f"iCaRL's model needs 'features' and 'classifier' parts; {type(model).__name__} "
                f"lacks {', '.join(missing)} (or pass feature_extractor= and classifier=)"
            )
        return model
    if feature_extractor is None or classifier is None:
        raise ParameterError("iCaRL needs feature_extractor and classifier (or a model)")
    for name, part in (("feature_extractor", feature_extractor), ("classifier", classifier)):
        if not isinstance(part, nn.Module):
            raise ParameterError(f"{name} must be a torch.nn.Module, got {type(part).__name__}")
    return FeatureClassifier(feature_extractor, classifier)
