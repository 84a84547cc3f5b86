"""The supervised contrastive loss (Khosla et al., 2020), as SCR trains with it.

Every anchor embedding is pulled towards the embeddings of its own class (its other
views and the other samples of that class: its positives) and pushed away from the rest
of the batch, through a softmax over its similarities to every embedding but itself.
SCR (Mai et al., 2021) trains a feature extractor and projection head with it on the
incoming batch joined to a memory batch, each sample seen in two views.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from clhost import validate
from clhost.capabilities import PROJECTION_HEAD, Capabilities

CONTRAST_MODES = ("all", "one")


class SCRLoss:
    """Supervised contrastive loss (Khosla et al., 2020, "Supervised Contrastive Learning").

    ``loss(features, labels=None)`` takes L2-normalised embeddings, ``[batch, views, dim]``
    or ``[batch, dim]`` (one view), and the ``[batch]`` class labels; without labels the
    only positives of a sample are its other views (SimCLR's loss). With ``contrast_mode``
    ``"all"`` every view of every sample is an anchor, with ``"one"`` only the first view
    (the same thing for a single view). For an anchor ``i`` with positives ``P(i)`` and
    ``A(i)`` every embedding but itself::

        loss_i = -(temperature / base_temperature) / |P(i)|
                 * sum_{p in P(i)} log( exp(z_i.z_p / temperature)
                                        / sum_{a in A(i)} exp(z_i.z_a / temperature) )

    The loss is the mean over the anchors that have at least one positive (zero, still
    attached to the graph, when none has). It holds no state.

    As a strategy's criterion it needs a model whose training output is such an embedding
    (a projection head, e.g. ``clhost_scr.SCRModel``): class scores are no embeddings.
    """

    capabilities = Capabilities(
        requires={
            PROJECTION_HEAD: "it compares normalised embeddings, not class scores (use the "
            "scr strategy, which wraps the model with one, or an SCRModel)"
        }
    )

    def __init__(
        self,
        temperature: float = 0.1,
        contrast_mode: Literal["all", "one"] = "all",
        base_temperature: float = 0.07,
    ):
        self.temperature = validate.number("temperature", temperature, low=0.0, low_open=True)
        self.contrast_mode = validate.one_of("contrast_mode", contrast_mode, CONTRAST_MODES)
        self.base_temperature = validate.number(
            "base_temperature", base_temperature, low=0.0, low_open=True
        )

    def __repr__(self) -> str:
        return (
            f"SCRLoss(temperature={self.temperature}, contrast_mode={self.contrast_mode!r}, "
            f"base_temperature={self.base_temperature})"
        )

    def __call__(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        views = _as_views(features)
        batch, n_views, dim = views.shape
        if labels is None:
            labels = torch.arange(batch, device=views.device)
        elif labels.shape != (batch,):
            raise ValueError(
                f"labels must have shape ({batch},) for {batch} samples, got {tuple(labels.shape)}"
            )
        # Contrast set: every view of every sample, view-major, so the anchors of both
        # modes are its first rows and anchor a is contrast row a.
        contrast = views.transpose(0, 1).reshape(n_views * batch, dim)
        contrast_labels = labels.repeat(n_views)
        n_anchors = batch if self.contrast_mode == "one" else n_views * batch
        anchors, anchor_labels = contrast[:n_anchors], contrast_labels[:n_anchors]

        logits = anchors @ contrast.T / self.temperature
        itself = torch.zeros_like(logits, dtype=torch.bool)
        itself[:, :n_anchors].fill_diagonal_(True)
        log_prob = logits - logits.masked_fill(itself, float("-inf")).logsumexp(1, keepdim=True)
        positive = (anchor_labels.unsqueeze(1) == contrast_labels.unsqueeze(0)) & ~itself
        n_positive = positive.sum(1)
        mean_log_prob = (log_prob * positive).sum(1) / n_positive.clamp(min=1)
        per_anchor = -(self.temperature / self.base_temperature) * mean_log_prob
        counted = (n_positive > 0).to(per_anchor.dtype)
        return (per_anchor * counted).sum() / counted.sum().clamp(min=1)


def _as_views(features: Tensor) -> Tensor:
    if features.dim() == 2:
        return features.unsqueeze(1)
    if features.dim() == 3:
        return features
    raise ValueError(
        f"features must be [batch, views, dim] or [batch, dim], got shape {tuple(features.shape)}"
    )
