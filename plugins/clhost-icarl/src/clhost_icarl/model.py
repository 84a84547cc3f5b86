"""The model iCaRL trains: a feature extractor followed by a classifier."""

from __future__ import annotations

from torch import Tensor, nn


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
