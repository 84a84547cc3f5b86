"""The look-ahead: fast weights unrolled over the incoming chunks, with torch.func.

``torch.func.functional_call`` runs the model on the fast weights (no copy of the model,
no ``higher``); the inner gradients are ``torch.autograd.grad`` over that call, which gave
the same numbers as ``torch.func.grad`` in a fifth less time (its transform costs more
than the two-layer MLP's backward).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from clhost.models import forward_with_tasks

Batch = tuple[Tensor, Tensor, Tensor]


class _TaskForward(nn.Module):
    """``forward_with_tasks`` as a module, so ``functional_call`` can swap its weights."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return forward_with_tasks(self.model, x, t)


def meta_losses(
    model: nn.Module,
    criterion: Callable[[Tensor, Tensor], Tensor],
    weights: dict[str, Tensor],
    alphas: Sequence[Tensor],
    chunks: Sequence[Batch],
    meta_batch: Batch,
    *,
    clip: float,
    second_order: bool,
) -> list[Tensor]:
    """The loss on ``meta_batch`` after each inner step θ ← θ − α ⊙ clamp(∇ℓ(θ, chunk)).

    ``weights`` (the model's parameters by name) and ``alphas`` stay in the graph, so the
    losses' gradients reach both; with ``second_order`` the inner gradients are
    differentiated too, else they count as constants (first-order MAML).
    """
    wrapped = _TaskForward(model)
    names = [f"model.{name}" for name in weights]
    # untying shared weights costs a walk over the model per call: only when there are some
    tied = len(dict(model.named_parameters(remove_duplicate=False))) > len(
        dict(model.named_parameters())
    )

    def loss(params: dict[str, Tensor], batch: Batch) -> Tensor:
        x, y, t = batch
        return criterion(functional_call(wrapped, params, (x, t), tie_weights=tied), y)

    fast = dict(zip(names, weights.values(), strict=True))
    losses = []
    for chunk in chunks:
        step = torch.autograd.grad(
            loss(fast, chunk), list(fast.values()), create_graph=second_order
        )
        fast = {
            name: param - alpha * gradient.clamp(-clip, clip)
            for (name, param), alpha, gradient in zip(fast.items(), alphas, step, strict=True)
        }
        losses.append(loss(fast, meta_batch))
    return losses


def split_chunks(batch: Batch, n_chunks: int) -> list[Batch]:
    """``batch`` cut into at most ``n_chunks`` consecutive, equal (but the last) chunks."""
    size = -(-len(batch[1]) // n_chunks)
    return list(zip(*(tensor.split(size) for tensor in batch), strict=True))


def concat(first: Batch, second: Batch) -> Batch:
    x, y, t = (torch.cat(pair) for pair in zip(first, second, strict=True))
    return x, y, t
