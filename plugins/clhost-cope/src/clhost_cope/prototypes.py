"""Class prototypes on the unit sphere, evolving by a momentum average of batch means."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from clhost.errors import CheckpointError


class ClassPrototypes:
    """One L2-normalised prototype per class id below ``n_classes``, of size ``p_size``.

    A class gets a prototype the first time it is seen, drawn uniformly from the positive
    orthant and normalised (as in CoPE). ``accumulate`` sums the embeddings of each class
    over one or more minibatches; ``update`` then moves each accumulated class to
    ``normalize(alpha * p_c + (1 - alpha) * mean_c)`` and starts a new sum. Everything
    stays on the device of the embeddings, without reading values back.
    """

    def __init__(self, n_classes: int, p_size: int, alpha: float):
        self.alpha = alpha
        self.vectors = torch.zeros(n_classes, p_size)
        self.known = torch.zeros(n_classes, dtype=torch.bool)
        self.sums = torch.zeros(n_classes, p_size)
        self.counts = torch.zeros(n_classes)

    def to(self, device: torch.device) -> ClassPrototypes:
        """Move every tensor to ``device`` (no copy when already there)."""
        for name in ("vectors", "known", "sums", "counts"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def add_classes(self, labels: Tensor) -> None:
        """Give the classes of ``labels`` that have none a random normalised prototype."""
        new = torch.zeros_like(self.known)
        new[labels] = True
        new &= ~self.known
        fresh = F.normalize(torch.rand_like(self.vectors), dim=1)
        self.vectors = torch.where(new.unsqueeze(1), fresh, self.vectors)
        self.known |= new

    def accumulate(self, embeddings: Tensor, labels: Tensor) -> None:
        """Add ``embeddings`` (detached) to the running sum of their classes."""
        self.sums.index_add_(0, labels, embeddings.detach().to(self.sums.dtype))
        self.counts.index_add_(0, labels, torch.ones_like(labels, dtype=self.counts.dtype))

    def update(self) -> None:
        """Momentum step towards the mean of what was accumulated, for the classes that
        were; then clear the sums."""
        seen = (self.counts > 0).unsqueeze(1)
        means = self.sums / self.counts.clamp(min=1).unsqueeze(1)
        moved = F.normalize(self.alpha * self.vectors + (1 - self.alpha) * means, dim=1)
        self.vectors = torch.where(seen, moved, self.vectors)
        self.sums.zero_()
        self.counts.zero_()

    def state_dict(self) -> dict[str, Any]:
        return {
            "vectors": self.vectors,
            "known": self.known,
            "sums": self.sums,
            "counts": self.counts,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        shapes = {name: tuple(getattr(self, name).shape) for name in self.state_dict()}
        for name, shape in shapes.items():
            value = state.get(name) if isinstance(state, dict) else None
            if not isinstance(value, Tensor) or tuple(value.shape) != shape:
                raise CheckpointError(
                    f"prototype state needs {name!r} of shape {shape} (n_classes, p_size)"
                )
        device = self.vectors.device
        self.vectors = state["vectors"].to(device, torch.float32)
        self.known = state["known"].to(device, torch.bool)
        self.sums = state["sums"].to(device, torch.float32)
        self.counts = state["counts"].to(device, torch.float32)
