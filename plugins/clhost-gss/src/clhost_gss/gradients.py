"""The loss gradient of every sample, flattened over the trainable parameters."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clhost.gradients import stacked_gradients
from clhost.models import MultiTaskModule


def per_sample_gradients(model: nn.Module, x: Tensor, y: Tensor, t: Tensor) -> Tensor:
    """One row per sample: the gradient of its cross-entropy with respect to every
    trainable parameter of ``model``, concatenated.

    All rows come from one vectorised pass (``clhost.gradients.stacked_gradients``, each
    sample a batch of one), on whatever device the model is. Multi-task models pick a head
    per sample with Python control flow, which ``vmap`` cannot batch over, so their
    samples are grouped by task label and each group is one vectorised pass with its task
    fixed; a head a sample does not use gets zeros. The model is evaluated in eval mode
    (BatchNorm cannot normalise a single sample, and dropout would make the rows random),
    and its mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        if not isinstance(model, MultiTaskModule):
            return _vectorised(model, x, y, None)
        size = sum(p.numel() for p in model.parameters() if p.requires_grad)
        dtype = next(p.dtype for p in model.parameters() if p.requires_grad)
        rows = torch.zeros(len(x), size, dtype=dtype, device=x.device)
        for task in torch.unique(t).tolist():
            mask = t == task
            rows[mask] = _vectorised(model, x[mask], y[mask], task)
        return rows
    finally:
        model.train(was_training)


def _vectorised(model: nn.Module, x: Tensor, y: Tensor, task: int | None) -> Tensor:
    return stacked_gradients(model, F.cross_entropy, x.unsqueeze(1), y.unsqueeze(1), task)
