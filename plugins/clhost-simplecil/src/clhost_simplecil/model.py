"""SimpleCIL's classifier: one prototype per class, the mean of its features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from clhost.errors import ParameterError
from clhost_pretrained import ClosedFormClassifier, grown


class PrototypeClassifier(ClosedFormClassifier):
    """The score of class ``k`` is the cosine similarity of a feature to its prototype,
    the mean of the class's features so far (kept as a float64 sum and a count, so any
    minibatch order gives the same prototypes). A class with no sample yet scores below
    every other class."""

    statistics = ("sums", "counts")
    sums: Tensor
    counts: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("sums", torch.zeros(0, 0, dtype=torch.float64))
        self.register_buffer("counts", torch.zeros(0, dtype=torch.int64))

    @property
    def num_features(self) -> int:  # type: ignore[override]
        return self.sums.shape[1]

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return self.sums.shape[0]

    @property
    def prototypes(self) -> Tensor:
        """``(num_classes, num_features)``: each class's mean feature (zeros if unseen)."""
        return self.sums / self.counts.clamp_min(1)[:, None]

    def resize(self, num_features: int, num_classes: int) -> None:
        if self.num_features not in (0, num_features):
            raise ParameterError(
                f"the features have size {num_features}, the prototypes {self.num_features}"
            )
        if self.num_features == 0:
            self.sums = self.sums.new_zeros(self.num_classes, num_features)
        self.sums = grown(self.sums, num_classes)
        self.counts = grown(self.counts, num_classes)

    @torch.no_grad()
    def fit(self, features: Tensor, targets: Tensor) -> None:
        self.sums.index_add_(0, targets.long(), features.to(self.sums.dtype))
        self.counts.add_(torch.bincount(targets.long(), minlength=self.num_classes))

    def forward(self, features: Tensor) -> Tensor:
        if self.num_features == 0:  # evaluated before any feature: no opinion
            return features.new_zeros(len(features), self.num_classes)
        scores = (
            F.normalize(features.float(), dim=1) @ F.normalize(self.prototypes.float(), dim=1).T
        )
        return torch.where(self.counts > 0, scores, torch.full_like(scores, -2.0))
