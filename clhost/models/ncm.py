"""Nearest-class-mean classification: score each class by the distance to its mean feature."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from clhost.errors import ParameterError

# Classes without a mean score this far below the lowest known score of their row: no
# argmax picks them, and a loss over the scores stays finite.
UNKNOWN_CLASS_MARGIN = 1e4


class NCMClassifier(nn.Module):
    """Scores features by their negative Euclidean distance to each class mean.

    Methods that learn a representation but classify by prototypes (iCaRL, SCR, CoPE)
    give the class means with ``replace_class_means_dict`` or blend new estimates in with
    ``update_class_means_dict``. With ``normalize`` the features and the means are
    L2-normalised before comparing, as iCaRL does, so only directions matter.

    ``forward(features)`` returns one column per class id up to the largest id with a
    mean; ids without one get a score ``UNKNOWN_CLASS_MARGIN`` below the row's lowest.
    The means are buffers (they follow ``.to(device)`` and ``state_dict``); loading a
    state resizes them to the stored number of classes.
    """

    def __init__(self, normalize: bool = True):
        super().__init__()
        if not isinstance(normalize, bool):
            raise ParameterError(f"normalize must be a bool, got {normalize!r}")
        self.normalize = normalize
        self.class_means: Tensor
        self.has_mean: Tensor
        self.register_buffer("class_means", torch.zeros(0, 0))
        self.register_buffer("has_mean", torch.zeros(0, dtype=torch.bool))

    @property
    def known_classes(self) -> list[int]:
        return torch.nonzero(self.has_mean)[:, 0].tolist()

    @property
    def class_means_dict(self) -> dict[int, Tensor]:
        """Each class with a mean, mapped to that mean (as given, not normalised)."""
        return {label: self.class_means[label] for label in self.known_classes}

    def replace_class_means_dict(self, class_means_dict: Mapping[int, Tensor]) -> None:
        """Forget every mean and keep exactly ``class_means_dict``."""
        self._set_means(_checked(class_means_dict), keep=False)

    def update_class_means_dict(
        self, class_means_dict: Mapping[int, Tensor], momentum: float = 0.5
    ) -> None:
        """Set the means of new classes; blend those of known classes as
        ``momentum * old + (1 - momentum) * new`` (``momentum`` is the weight kept)."""
        if isinstance(momentum, bool) or not isinstance(momentum, int | float):
            raise ParameterError(f"momentum must be a number in [0, 1], got {momentum!r}")
        if not 0 <= momentum <= 1:
            raise ParameterError(f"momentum must be a number in [0, 1], got {momentum!r}")
        means = _checked(class_means_dict)
        known = self.class_means_dict
        blended = {
            label: momentum * known[label] + (1 - momentum) * mean.to(known[label])
            if label in known
            else mean
            for label, mean in means.items()
        }
        self._set_means(blended, keep=True)

    def forward(self, x: Tensor) -> Tensor:
        if not bool(self.has_mean.any()):
            raise RuntimeError("NCMClassifier has no class means yet; set them before use")
        features = x.flatten(1)
        means = self.class_means.to(features.dtype)
        if self.normalize:
            features, means = F.normalize(features, dim=1), F.normalize(means, dim=1)
        if features.shape[1] != means.shape[1]:
            raise ValueError(
                f"features have {features.shape[1]} dimensions but the class means "
                f"have {means.shape[1]}"
            )
        scores = -torch.cdist(features, means)
        lowest = scores.masked_fill(~self.has_mean, float("inf")).amin(dim=1, keepdim=True)
        return torch.where(self.has_mean, scores, lowest - UNKNOWN_CLASS_MARGIN)

    def _set_means(self, means: dict[int, Tensor], keep: bool) -> None:
        if not means and not keep:
            self.class_means = self.class_means.new_zeros(0, 0)
            self.has_mean = self.has_mean.new_zeros(0)
            return
        old = self.class_means_dict if keep else {}
        merged = {**old, **means}
        dims = {int(mean.numel()) for mean in merged.values()}
        if len(dims) > 1:
            raise ValueError(f"class means must all have the same size, got sizes {sorted(dims)}")
        reference = next(iter(means.values()), None)
        device = self.class_means.device if reference is None else reference.device
        table = torch.zeros(max(merged) + 1, dims.pop(), device=device)
        present = torch.zeros(len(table), dtype=torch.bool, device=device)
        for label, mean in merged.items():
            table[label] = mean.detach().flatten().to(table)
            present[label] = True
        self.class_means, self.has_mean = table, present

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        # The number of classes grows with the stream: take the stored sizes.
        for name in ("class_means", "has_mean"):
            stored = state_dict.get(prefix + name)
            if isinstance(stored, Tensor):
                setattr(self, name, torch.empty_like(stored, device=self.class_means.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _checked(class_means_dict: Mapping[int, Tensor]) -> dict[int, Tensor]:
    if not isinstance(class_means_dict, Mapping):
        raise ParameterError(
            f"class means must be a dict of class id -> tensor, got {type(class_means_dict)}"
        )
    checked = {}
    for label, mean in class_means_dict.items():
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise ParameterError(f"class ids must be non-negative integers, got {label!r}")
        if not isinstance(mean, Tensor):
            raise ParameterError(f"the mean of class {label} must be a tensor, got {type(mean)}")
        checked[label] = mean
    return checked
