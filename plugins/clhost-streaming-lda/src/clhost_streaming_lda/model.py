"""Deep SLDA's model: a frozen feature extractor and the streaming LDA classifier on it."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from clhost.data import Experience, experience_data
from clhost.errors import ParameterError
from clhost.models import DynamicModule, MultiTaskModule, forward_with_tasks, named_layer


class StreamingLDAClassifier(nn.Module):
    """Running class means, their counts and one covariance shared by every class, and
    the linear classifier LDA derives from them (Hayes & Kanan, 2020).

    ``fit`` takes a minibatch of features at once; the result is the one of fitting its
    samples one at a time in any order: each class mean is the mean of the class's
    features so far, and ``covariance`` the pooled within-class covariance of every
    feature so far, ``sum_i (z_i - mu_{y_i})(z_i - mu_{y_i})^T / num_updates`` (merged
    minibatch by minibatch as Chan et al.'s parallel variance). The statistics are
    float64 buffers, so they move with the model and are saved in its ``state_dict``.

    Scores are ``z^T Lambda mu_k - mu_k^T Lambda mu_k / 2`` with the shrunk precision
    ``Lambda = ((1 - shrinkage_param) Sigma + shrinkage_param I)^+`` (a linear solve while
    ``shrinkage_param > 0`` makes it definite), computed once per change of the
    statistics. A class with no sample yet scores below every other class. With
    ``streaming_update_sigma=False`` the covariance stays as it is (the identity, or
    what ``fit_base`` estimated) and only the means learn.
    """

    def __init__(
        self,
        input_size: int = 0,
        num_classes: int = 0,
        shrinkage_param: float = 1e-4,
        streaming_update_sigma: bool = True,
    ):
        super().__init__()
        self.shrinkage_param = shrinkage_param
        self.streaming_update_sigma = streaming_update_sigma
        self.register_buffer("means", torch.zeros(num_classes, input_size, dtype=torch.float64))
        self.register_buffer("counts", torch.zeros(num_classes, dtype=torch.int64))
        self.register_buffer("covariance", torch.eye(input_size, dtype=torch.float64))
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.int64))
        self._linear_cache: tuple[tuple[Tensor, ...], tuple[int, ...], Tensor, Tensor] | None
        self._linear_cache = None

    means: Tensor
    counts: Tensor
    covariance: Tensor
    num_updates: Tensor

    @property
    def input_size(self) -> int:
        return self.means.shape[1]

    @property
    def num_classes(self) -> int:
        return self.means.shape[0]

    def resize(self, input_size: int, num_classes: int) -> None:
        """Grow to ``num_classes`` classes (new ones unseen) and, while it has none, take
        the feature size ``input_size``."""
        if self.input_size not in (0, input_size):
            raise ParameterError(
                f"the features have size {input_size} but input_size is {self.input_size}"
            )
        extra = num_classes - self.num_classes
        if extra <= 0 and input_size == self.input_size:
            return
        means = self.means.new_zeros(max(num_classes, self.num_classes), input_size)
        means[: self.num_classes, : self.input_size] = self.means
        self.means = means
        self.counts = torch.cat((self.counts, self.counts.new_zeros(max(extra, 0))))
        if self.covariance.shape[0] != input_size:
            self.covariance = torch.eye(input_size, dtype=means.dtype, device=means.device)

    @torch.no_grad()
    def fit(self, features: Tensor, targets: Tensor) -> None:
        """Update the statistics with a minibatch of ``features`` (N x D) of classes
        ``targets`` (N,), as ``len(features)`` single-sample updates would."""
        z = features.to(self.means.dtype)
        y = targets.long()
        batch_counts = torch.bincount(y, minlength=self.num_classes)
        sums = torch.zeros_like(self.means).index_add_(0, y, z)
        before, added = self.counts.to(z.dtype), batch_counts.to(z.dtype)
        total = (before + added).clamp_min(1)[:, None]
        if self.streaming_update_sigma:
            batch_means = sums / added.clamp_min(1)[:, None]
            within = z - batch_means[y]
            shift = batch_means - self.means  # a class absent from the batch weighs 0
            weight = (before * added)[:, None] / total
            scatter = within.T @ within + (shift * weight).T @ shift
            seen = self.num_updates.to(z.dtype)
            self.covariance.mul_(seen).add_(scatter).div_(seen + len(z))
        self.means.add_((sums - added[:, None] * self.means) / total)
        self.counts.add_(batch_counts)
        self.num_updates.add_(len(z))

    @torch.no_grad()
    def fit_base(self, features: Tensor, targets: Tensor) -> None:
        """Start again from base-initialisation data: the statistics become those of
        ``features`` alone, covariance included (the paper's fixed-covariance variant
        keeps it from here on)."""
        self.means.zero_()
        self.counts.zero_()
        self.num_updates.zero_()
        streaming, self.streaming_update_sigma = self.streaming_update_sigma, True
        try:
            self.fit(features, targets)
        finally:
            self.streaming_update_sigma = streaming

    def forward(self, features: Tensor) -> Tensor:
        if self.input_size == 0:  # evaluated before it has seen a feature: no opinion
            return features.new_zeros(len(features), self.num_classes)
        if features.shape[1] != self.input_size:
            raise ParameterError(
                f"the features have size {features.shape[1]} but input_size is {self.input_size}"
            )
        weights, bias = self._linear()
        scores = features.to(weights.dtype) @ weights - bias
        # classes never fitted have zero means and score 0: put them below all others
        floor = scores.amin(dim=1, keepdim=True) - 1
        scores = torch.where(self.counts > 0, scores, floor)
        return scores.to(features.dtype)

    def _linear(self) -> tuple[Tensor, Tensor]:
        """``Lambda M^T`` and the biases, recomputed only when the means or the covariance
        changed: they are other tensors, or in-place changes (a loaded state's too) moved
        their version counters."""
        statistics = (self.means, self.covariance)
        versions = tuple(tensor._version for tensor in statistics)
        cache = self._linear_cache
        if (
            cache is None
            or cache[1] != versions
            or any(a is not b for a, b in zip(cache[0], statistics, strict=True))
        ):
            eye = torch.eye(
                self.input_size, dtype=self.covariance.dtype, device=self.covariance.device
            )
            shrunk = (1 - self.shrinkage_param) * self.covariance + self.shrinkage_param * eye
            if self.shrinkage_param > 0:  # positive definite: a solve, no inverse
                weights = torch.linalg.solve(shrunk, self.means.T)
            else:
                weights = torch.linalg.pinv(shrunk, hermitian=True) @ self.means.T
            bias = 0.5 * (self.means.T * weights).sum(dim=0)
            cache = self._linear_cache = (statistics, versions, weights, bias)
        return cache[2], cache[3]


class StreamingLDAModel(MultiTaskModule, DynamicModule):
    """``feature_extractor`` (its output, or that of its layer ``output_layer_name``),
    frozen in eval mode, followed by a ``StreamingLDAClassifier``.

    Task labels are passed on to a multi-task extractor. Before each experience one
    sample goes through the extractor: the classifier takes the feature size if it had
    none (a different one is an error), and grows to the experience's classes unless
    ``fixed_classes``, where a class beyond its size is an error.
    """

    def __init__(
        self,
        feature_extractor: nn.Module,
        classifier: StreamingLDAClassifier,
        output_layer_name: str | None = None,
        fixed_classes: bool = True,
    ):
        super().__init__()
        if output_layer_name is not None:
            named_layer(feature_extractor, output_layer_name)  # one clear error if absent
        self.feature_extractor = feature_extractor.eval()
        self.classifier = classifier
        self.output_layer_name = output_layer_name
        self.fixed_classes = fixed_classes

    def train(self, mode: bool = True) -> StreamingLDAModel:
        super().train(mode)
        self.feature_extractor.eval()  # frozen: batch norm statistics never move
        return self

    @torch.no_grad()
    def features(self, x: Tensor, task_labels: Tensor) -> Tensor:
        """The flattened features of ``x``."""
        if self.output_layer_name is None:
            return forward_with_tasks(self.feature_extractor, x, task_labels).flatten(1)
        captured: list[Any] = []
        layer = named_layer(self.feature_extractor, self.output_layer_name)
        handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
        try:
            forward_with_tasks(self.feature_extractor, x, task_labels)
        finally:
            handle.remove()
        return captured[-1].flatten(1)

    def forward(self, x: Tensor, task_labels: Tensor | None = None) -> Tensor:
        """Scores of ``x``; without task labels every sample is of task 0."""
        if task_labels is None:
            task_labels = torch.zeros(len(x), dtype=torch.long, device=x.device)
        return self.classifier(self.features(x, task_labels))

    def adaptation(self, experience: Experience) -> None:
        needed = max(experience.classes_in_this_experience, default=-1) + 1
        self.cover(
            self._feature_size(experience), needed, f"experience {experience.current_experience}"
        )

    def cover(self, input_size: int, classes: int, source: str) -> None:
        """Size the classifier for features of ``input_size`` and ``classes`` classes
        (``source`` has them, for the error when it cannot)."""
        classifier = self.classifier
        if self.fixed_classes and classes > classifier.num_classes:
            raise ParameterError(
                f"num_classes is {classifier.num_classes} but {source} has class {classes - 1}"
            )
        classifier.resize(input_size, max(classes, classifier.num_classes))

    def _feature_size(self, experience: Experience) -> int:
        x, _, task = experience_data(experience)[0]
        device = self.classifier.means.device
        x = torch.as_tensor(x).unsqueeze(0).to(device)
        return self.features(x, torch.as_tensor(task, device=device).reshape(1)).shape[1]
