"""Numeric blow-ups stop training with one clear error instead of training on NaN."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from clhost._dispatch import plugin_label
from clhost.errors import NonFiniteError

ADVICE = (
    "lower the learning rate, clip gradients (e.g. torch.nn.utils.clip_grad_norm_ in a "
    "clhost_before_update hook) or weaken the method's regularization"
)


class FiniteGuard:
    """Watches the loss of every training iteration and the weights after every experience.

    ``deferred=False`` (the CPU): each loss is read as it is computed, so training stops
    before the step that would carry a non-finite loss into the weights. Reading it costs
    about 2.5 us an iteration in the loop (0.3 us in isolation), under 1% of a split-digits
    iteration of 350 us (``benchmarks/naive_vs_loop.py``).

    ``deferred=True`` (an accelerator): reading a loss back would make the host wait for
    the device at every iteration, so each loss is copied into a buffer on the device and
    the buffer is read once, at the end of the epoch: the error comes then, and names
    the first iteration whose loss was not finite.

    The weights (parameters and floating-point buffers) are checked once per experience,
    before ``after_training_exp``: plugins never consolidate, and ``run_experiment`` never
    checkpoints, a non-finite model.

    Known limits: the online template checks the weights once per ``train()`` call, so
    with ``boundaries_known`` plugins may consolidate earlier pieces unchecked, and each
    of its mini-experiences is an "epoch" here (one read-back per piece on an
    accelerator); the meta-learning template watches the loss after its outer update, so
    on the CPU too the error comes one step late.
    """

    def __init__(self, deferred: bool):
        self.deferred = deferred
        self._losses: Tensor | None = None
        self._count = 0

    def start_epoch(self) -> None:
        self._count = 0

    def watch(self, strategy: Any) -> None:
        """Once per iteration, after the loss is complete and before the backward pass."""
        loss = strategy.loss
        if self.deferred:
            self._store(loss.detach())
        elif not math.isfinite(loss.item()):
            self._raise(strategy, f"the training loss became {loss.item()}", _iteration(strategy))

    def end_epoch(self, strategy: Any) -> None:
        """Raise if a loss recorded on the device since ``start_epoch`` was not finite."""
        count, self._count = self._count, 0
        if self._losses is None or count == 0:
            return
        bad = ~torch.isfinite(self._losses[:count])
        if bad.any():  # the one read-back of the epoch
            index = int(bad.nonzero()[0])
            value = self._losses[index].item()
            first = _iteration(strategy) - count + index
            self._raise(strategy, f"the training loss became {value}", first)

    def check_weights(self, strategy: Any) -> None:
        """Raise if a parameter or floating-point buffer of the model is not finite.

        One sum per tensor and one read: a NaN or inf anywhere makes its tensor's sum
        non-finite (so would finite weights summing past the float range, a blow-up all
        the same).
        """
        tensors = [
            (name, tensor)
            for name, tensor in (
                *strategy.model.named_parameters(),
                *strategy.model.named_buffers(),
            )
            if tensor.is_floating_point()
        ]
        if not tensors:
            return
        sums = torch.stack([tensor.detach().sum(dtype=torch.float32) for _, tensor in tensors])
        finite = torch.isfinite(sums)
        if bool(finite.all()):
            return
        name = tensors[int((~finite).nonzero()[0])][0]
        last = max(_iteration(strategy) - 1, 0)
        self._raise(strategy, f"the weights ({name!r} first) became non-finite", last)

    def _store(self, loss: Tensor) -> None:
        """Copy ``loss`` into the device buffer (float32: a loss beyond its range counts
        as a blow-up), growing it when an epoch has more iterations than it holds."""
        buffer, count = self._losses, self._count
        if buffer is None or count == len(buffer) or buffer.device != loss.device:
            grown = torch.empty(max(256, 2 * count), dtype=torch.float32, device=loss.device)
            if buffer is not None and count:
                grown[:count] = buffer[:count]
            buffer = self._losses = grown
        buffer[count] = loss
        self._count = count + 1

    @staticmethod
    def _raise(strategy: Any, what: str, iteration: int) -> None:
        experience = getattr(strategy.experience, "current_experience", 0)
        epoch = strategy.clock.train_exp_epochs
        name = strategy_label(strategy)
        raise NonFiniteError(
            f"{name}: {what} at iteration {iteration} (epoch {epoch}) of experience "
            f"{experience}; training stopped. To avoid it, {ADVICE}",
            strategy=name,
            experience=experience,
            iteration=iteration,
        )


def strategy_label(strategy: Any) -> str:
    """The strategy's class, with the plugins the user gave it."""
    plugins = [plugin_label(plugin) for plugin in getattr(strategy, "plugins", ())]
    name = type(strategy).__name__
    return f"{name} (plugins: {', '.join(plugins)})" if plugins else name


def _iteration(strategy: Any) -> int:
    """The current iteration within the experience, from 0 (the clock counts it after)."""
    return int(strategy.clock.train_exp_iterations)
