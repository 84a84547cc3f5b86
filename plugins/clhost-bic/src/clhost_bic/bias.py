"""The bias correction layer of BiC: a linear map on the scores of the newest classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from clhost.errors import CheckpointError


class BiasLayer(nn.Module):
    """``alpha * score + beta`` on the scores of ``classes``; every other score is kept.

    Starts as the identity (``alpha = 1``, ``beta = 0``). Two parameters are all BiC
    learns in its second stage: the new classes are scaled and shifted together, so the
    ranking among them stays and only their level against the old classes changes.
    """

    def __init__(self, classes: Sequence[int] = ()):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1))
        self.beta = nn.Parameter(torch.zeros(1))
        self.classes: Tensor
        self.register_buffer("classes", torch.tensor(sorted(classes), dtype=torch.long))

    def forward(self, scores: Tensor) -> Tensor:
        if len(self.classes) == 0:
            return scores
        units = self.classes.to(scores.device)
        corrected = scores.clone()
        corrected[:, units] = self.alpha * scores[:, units] + self.beta
        return corrected

    def state(self) -> dict[str, Any]:
        """Checkpoint-safe state: the two parameters and the classes corrected."""
        return {
            "alpha": self.alpha.detach().clone(),
            "beta": self.beta.detach().clone(),
            "classes": self.classes.clone(),
        }

    @classmethod
    def from_state(cls, state: Any) -> BiasLayer:
        try:
            alpha, beta, classes = state["alpha"], state["beta"], state["classes"]
        except (KeyError, TypeError):
            raise CheckpointError("a BiC bias layer state needs alpha, beta and classes") from None
        layer = cls(classes.tolist())
        with torch.no_grad():
            layer.alpha.copy_(alpha)
            layer.beta.copy_(beta)
        return layer
