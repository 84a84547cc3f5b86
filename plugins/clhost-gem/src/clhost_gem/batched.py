"""Every memory's gradient from a few forward and backward passes over many memories.

For a linear layer the gradient of a loss is a sum of per-sample terms: with ``x_i`` the
layer's input and ``d_i`` the loss's gradient with respect to the layer's output,
``dW = sum_i d_i x_i'`` and ``db = sum_i d_i``. One forward pass over concatenated
memories, then one backward pass of the sum of the memories' own losses with respect to
the layers' outputs, gives every sample's ``d_i`` for its own memory's loss; summing the
outer products memory by memory (one batched matrix product per layer) separates the
memories' gradients exactly. It replaces many small passes by a few larger ones, which
pays where memories are small (an online stream keeps one per 10-sample piece); where
large matrix products dominate it costs the same as one pass per memory.

It holds only when samples do not interact and every trained parameter is used only by
a linear layer that sees every sample once, as one row, in order (a weight also used
elsewhere, e.g. tied, is not detected). Anything else (batch normalisation in training
mode, convolutions, a head applied to the samples of one task, a custom criterion) is
computed one memory at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.loss import _Loss

from clhost.gradients import gradient_of, loss_on_batch
from clhost.models import MultiTaskModule
from clhost.templates import SupervisedTemplate

CHUNK_ROWS = 2048  # samples per joint pass


def memory_gradients(
    strategy: Any, batches: Sequence[tuple[Tensor, ...]], params: Sequence[nn.Parameter]
) -> Tensor:
    """Row ``k``: ``gradient_of(loss_on_batch(strategy, batches[k]), params)``.

    Batches that can be separated (see the module's docstring) share one forward and
    one backward pass per task label; the others take one pass each.
    """
    rows = params[0].new_empty(len(batches), sum(p.numel() for p in params))
    done = [False] * len(batches)
    chunks = _chunks(_by_task(strategy, batches), batches) if _separable(strategy, params) else []
    for chunk in chunks:
        grads = _joint_gradients(strategy, [batches[k] for k in chunk], params)
        if grads is not None:
            rows.index_copy_(0, torch.tensor(chunk, device=rows.device), grads)
            for k in chunk:
                done[k] = True
    for k, batch in enumerate(batches):
        if not done[k]:
            rows[k] = gradient_of(loss_on_batch(strategy, batch), params)
    return rows


def _chunks(groups: list[list[int]], batches: Sequence[tuple[Tensor, ...]]) -> list[list[int]]:
    """``groups`` cut into runs of at most ``CHUNK_ROWS`` samples (at least one batch):
    a pass over every memory at once would keep activations too large for the caches
    (on the CPU, such a pass was slower than one pass per memory)."""
    chunks: list[list[int]] = []
    for group in groups:
        rows = CHUNK_ROWS
        for k in group:
            size = len(batches[k][0])
            if rows + size > CHUNK_ROWS:
                chunks.append([])
                rows = 0
            chunks[-1].append(k)
            rows += size
    return chunks


def _separable(strategy: Any, params: Sequence[nn.Parameter]) -> bool:
    """The loss reads only the output and targets, samples do not interact, and every
    parameter is a linear layer's weight or bias."""
    if type(strategy).criterion is not SupervisedTemplate.criterion or not isinstance(
        strategy.loss_fn, _Loss
    ):
        return False
    model = strategy.model
    if any(isinstance(m, _BatchNorm) and m.training for m in model.modules()):
        return False
    owned = {id(p) for m in _linears(model, params) for p in (m.weight, m.bias) if p is not None}
    return all(id(p) in owned for p in params)


def _linears(model: nn.Module, params: Sequence[nn.Parameter]) -> list[nn.Linear]:
    """The plain linear layers of ``model`` that hold any of ``params``."""
    wanted = {id(p) for p in params}
    return [
        m
        for m in model.modules()
        if isinstance(m, nn.Linear)
        and type(m).forward is nn.Linear.forward
        and any(id(p) in wanted for p in (m.weight, m.bias) if p is not None)
    ]


def _by_task(strategy: Any, batches: Sequence[tuple[Tensor, ...]]) -> list[list[int]]:
    """Indices of the batches that can share a forward pass: all of them, or for a
    multi-task model those with the same single task label (a multi-head model routes
    a mixed minibatch through each head separately: such a batch is left out)."""
    if not isinstance(strategy.model, MultiTaskModule):
        return [list(range(len(batches)))]
    groups: dict[int, list[int]] = {}
    for k, batch in enumerate(batches):
        tasks = torch.unique(batch[2]).tolist()
        if len(tasks) == 1:
            groups.setdefault(tasks[0], []).append(k)
    return list(groups.values())


@dataclass
class _Call:
    module: nn.Linear
    input: Tensor
    output: Tensor
    version: int


def _joint_gradients(
    strategy: Any, batches: list[tuple[Tensor, ...]], params: Sequence[nn.Parameter]
) -> Tensor | None:
    """The rows for ``batches`` from one forward and one backward, or ``None`` when a
    layer did not see every sample once, as one row, in order (or its output was
    changed in place)."""
    sizes = [len(batch[0]) for batch in batches]
    total = sum(sizes)
    joint = tuple(torch.cat(fields) for fields in zip(*batches, strict=True))
    calls: list[_Call] = []

    def record(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        calls.append(_Call(module, inputs[0].detach(), output, output._version))  # type: ignore[arg-type]

    handles = [m.register_forward_hook(record) for m in _linears(strategy.model, params)]
    saved = strategy.mbatch, strategy.mb_output
    try:
        strategy.mbatch = joint
        output = strategy.forward()
        if not isinstance(output, Tensor) or len(output) != total:
            return None
        losses = []
        for batch, part in zip(batches, torch.split(output, sizes), strict=True):
            strategy.mbatch, strategy.mb_output = batch, part
            losses.append(strategy.criterion())
    finally:
        strategy.mbatch, strategy.mb_output = saved
        for handle in handles:
            handle.remove()
    if any(
        c.input.shape[0] != total or c.input.dim() != 2 or c.output._version != c.version
        for c in calls
    ):
        return None
    deltas = torch.autograd.grad(
        torch.stack(losses).sum(), [c.output for c in calls], allow_unused=True
    )
    grads: dict[int, Tensor] = {}
    for call, delta in zip(calls, deltas, strict=True):
        if delta is None:
            continue
        d, x = _per_batch(delta, sizes), _per_batch(call.input, sizes)
        weight = torch.bmm(d.transpose(1, 2), x)
        parts = [(call.module.weight, weight), (call.module.bias, d.sum(dim=1))]
        for param, grad in parts:
            if param is not None:
                grads[id(param)] = grads[id(param)] + grad if id(param) in grads else grad
    return torch.cat(
        [
            grads[id(p)].reshape(len(batches), -1)
            if id(p) in grads
            else p.new_zeros(len(batches), p.numel())
            for p in params
        ],
        dim=1,
    )


def _per_batch(rows: Tensor, sizes: list[int]) -> Tensor:
    """``rows`` (samples x features) as batches x largest batch x features, zero-padded."""
    longest = max(sizes)
    if all(size == longest for size in sizes):
        return rows.view(len(sizes), longest, -1)
    padded = rows.new_zeros(len(sizes) * longest, rows.shape[-1])
    slots = torch.cat(
        [torch.arange(size, device=rows.device) + k * longest for k, size in enumerate(sizes)]
    )
    return padded.index_copy_(0, slots, rows).view(len(sizes), longest, -1)
