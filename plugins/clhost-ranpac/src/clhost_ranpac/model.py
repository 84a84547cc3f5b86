"""RanPAC's classifier: a fixed random projection with a ReLU, then ridge regression onto
one-hot targets, solved from second-order statistics."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from clhost.errors import ParameterError
from clhost.validate import non_negative_int, number, positive_int
from clhost_pretrained import ClosedFormClassifier, grown


class RandomProjectionRidge(ClosedFormClassifier):
    """``h = relu(f W)`` with ``W`` a fixed ``num_features x projection_size`` Gaussian
    matrix (drawn from ``seed`` when the feature size is known), and the scores
    ``h (G + ridge I)^-1 C``, where ``G = sum h h^T`` (the Gram matrix) and
    ``C = sum h y^T`` (``y`` one-hot) are accumulated over every sample so far, in
    float64. The samples themselves are never kept: the solution after any sequence of
    minibatches is the batch ridge regression on all of them. It is solved again only
    when the statistics changed."""

    statistics = ("gram", "cross")
    projection: Tensor
    gram: Tensor
    cross: Tensor

    def __init__(self, projection_size: int = 10000, ridge: float = 1e4, seed: int = 0):
        super().__init__()
        self.projection_size = positive_int("projection_size", projection_size)
        self.ridge = number("ridge", ridge, low=0, low_open=True)
        self.seed = non_negative_int("seed", seed)
        self.register_buffer("projection", torch.zeros(0, projection_size))
        self.register_buffer("gram", torch.zeros(projection_size, projection_size).double())
        self.register_buffer("cross", torch.zeros(projection_size, 0, dtype=torch.float64))
        self._solved: tuple[tuple[int, ...], Tensor] | None = None

    @property
    def num_features(self) -> int:  # type: ignore[override]
        return self.projection.shape[0]

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return self.cross.shape[1]

    def resize(self, num_features: int, num_classes: int) -> None:
        if self.num_features not in (0, num_features):
            raise ParameterError(
                f"the features have size {num_features}, the projection {self.num_features}"
            )
        if self.num_features == 0:
            generator = torch.Generator().manual_seed(self.seed)
            drawn = torch.randn(num_features, self.projection_size, generator=generator)
            self.projection = drawn.to(self.projection.device)
        self.cross = grown(self.cross, num_classes, dim=1)

    def project(self, features: Tensor) -> Tensor:
        """``relu(f W)`` in float64, the features the ridge regression is fitted on."""
        return F.relu(features.float() @ self.projection).double()

    @torch.no_grad()
    def fit(self, features: Tensor, targets: Tensor) -> None:
        h = self.project(features)
        self.gram.addmm_(h.T, h)
        self.cross.index_add_(1, targets.long(), h.T)

    def weights(self) -> Tensor:
        """``(G + ridge I)^-1 C``: the ridge regression's output weights."""
        key = tuple(part for t in (self.gram, self.cross) for part in (id(t), t._version))
        if self._solved is None or self._solved[0] != key:
            eye = torch.eye(self.projection_size, dtype=self.gram.dtype, device=self.gram.device)
            solved = torch.linalg.solve(self.gram + self.ridge * eye, self.cross)
            self._solved = (key, solved)
        return self._solved[1]

    def forward(self, features: Tensor) -> Tensor:
        return self._scores(features, self.weights)

    def training_scores(self, features: Tensor) -> Tensor:
        """With the last solution whose classes are the current ones (solved again only
        when the classes grew): a solve of ``projection_size`` equations per minibatch
        would cost more than the training itself."""
        solved = self._solved
        if solved is None or solved[1].shape != self.cross.shape:
            return self(features)
        return self._scores(features, lambda: solved[1])

    def _scores(self, features: Tensor, weights: Callable[[], Tensor]) -> Tensor:
        if self.num_features == 0:  # evaluated before any feature: no opinion
            return features.new_zeros(len(features), self.num_classes)
        return (self.project(features) @ weights()).to(features.dtype)
