"""Whole-model gradients as flat vectors, for methods that compare and project them.

A-GEM, GEM and similar methods treat the gradient of every trainable parameter as one
vector. Vectors are built over a list of parameters taken in the same iteration, so a
model that grew (wider classifier, new head) is flattened the same way for every
gradient compared; a parameter without a gradient contributes zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [param for param in model.parameters() if param.requires_grad]


def flatten_gradients(grads: Sequence[Tensor | None], params: Sequence[nn.Parameter]) -> Tensor:
    """One vector of ``grads`` (one per parameter, ``None`` meaning zero)."""
    return torch.cat(
        [
            grad.reshape(-1) if grad is not None else param.new_zeros(param.numel())
            for grad, param in zip(grads, params, strict=True)
        ]
    )


def current_gradient(params: Sequence[nn.Parameter]) -> Tensor:
    """The ``.grad`` of ``params`` as one vector."""
    return flatten_gradients([param.grad for param in params], params)


def gradient_of(loss: Tensor, params: Sequence[nn.Parameter]) -> Tensor:
    """The gradient of ``loss`` w.r.t. ``params`` as one vector, leaving ``.grad`` alone."""
    grads = torch.autograd.grad(loss, list(params), allow_unused=True)
    return flatten_gradients(grads, params)


def assign_gradient(params: Sequence[nn.Parameter], vector: Tensor) -> None:
    """Write ``vector`` back into the ``.grad`` of ``params`` (the inverse of flattening)."""
    start = 0
    for param in params:
        chunk = vector[start : start + param.numel()].view_as(param)
        start += param.numel()
        if param.grad is None:
            param.grad = chunk.clone()
        else:
            param.grad.copy_(chunk)


def loss_on_batch(strategy: Any, batch: tuple[Tensor, ...]) -> Tensor:
    """The strategy's own loss on ``batch`` (its ``forward`` and ``criterion``, so any
    override applies), leaving the current minibatch and output as they were."""
    saved = strategy.mbatch, strategy.mb_output
    strategy.mbatch = batch
    try:
        strategy.mb_output = strategy.forward()
        return strategy.criterion()
    finally:
        strategy.mbatch, strategy.mb_output = saved


def stacked_gradients(
    model: nn.Module,
    criterion: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    task: int | None = None,
) -> Tensor:
    """Row ``k``: the gradient of ``criterion(model(x[k]), y[k])`` with respect to the
    model's trainable parameters, flattened as ``current_gradient`` does, for a stack of
    equal-size batches ``x`` (``K x n x ...``) and ``y`` (``K x n``).

    All rows come from one vectorised pass (``torch.func``: ``vmap`` of ``grad`` of a
    ``functional_call``) instead of one backward pass per batch; a parameter a batch
    does not reach gets zeros. Multi-task models choose a head with Python control flow,
    which ``vmap`` cannot batch over: give the ``task`` label every batch has. Dropout
    draws differ between batches. Buffers are read, never written, so batch normalisation
    must be in eval mode. ``.grad`` is left alone.
    """
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())

    def loss(parameters: dict[str, Tensor], xk: Tensor, yk: Tensor) -> Tensor:
        inputs: tuple[Tensor, ...] = (xk,)
        if task is not None:
            inputs += (torch.full((len(xk),), task, dtype=torch.long, device=xk.device),)
        return criterion(functional_call(model, (parameters, buffers), inputs), yk)

    grads = vmap(grad(loss), in_dims=(None, 0, 0), randomness="different")(params, x, y)
    return torch.cat([g.reshape(len(x), -1) for g in grads.values()], dim=1)
