"""MixUp of replayed samples, so a small memory is replayed with more variation."""

from __future__ import annotations

import torch
from torch import Tensor


def mixup(x: Tensor, t: Tensor, alpha: float, *, same_task: bool) -> tuple[Tensor, Tensor, Tensor]:
    """MixUp (Zhang et al., 2018) within a minibatch: each sample blended with a partner
    drawn by a random permutation, ``lam * x + (1 - lam) * x[partner]``, one
    ``lam ~ Beta(alpha, alpha)`` for the minibatch.

    Returns the mixed inputs, the partner indices and ``lam`` (a 0-d tensor); the loss of
    a mixed sample is ``lam`` times that of its own label plus ``1 - lam`` times its
    partner's. With ``same_task`` partners share the task label, so a multi-task model
    reads every mixed sample with one head.
    """
    order = torch.randperm(len(t), device=t.device)
    if same_task:  # each task's positions receive a random permutation of themselves
        positions = torch.argsort(t, stable=True)
        shuffled = order[torch.argsort(t[order], stable=True)]
        order = torch.empty_like(order)
        order[positions] = shuffled
    concentration = torch.tensor(float(alpha), device=x.device)
    lam = torch.distributions.Beta(concentration, concentration).sample()
    mixed = lam.to(x.dtype) * x + (1 - lam.to(x.dtype)) * x[order]
    return mixed, order, lam
