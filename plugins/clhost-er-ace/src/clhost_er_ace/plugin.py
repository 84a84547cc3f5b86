"""ERACEPlugin: replay from a class-balanced memory, with asymmetric logit masks."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from clhost import hookimpl
from clhost.data import TensorData
from clhost.errors import CheckpointError, ParameterError
from clhost.plugin import SupervisedPlugin
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_loss_ace import present_units, restrict_logits


class ERACEPlugin(SupervisedPlugin):
    """ER-ACE (Caccia et al., 2022, "New Insights on Reducing Abrupt Representation
    Change in Online Continual Learning").

    Every training minibatch is joined by ``batch_size_mem`` samples drawn uniformly from
    a class-balanced memory of ``mem_size`` samples (one reservoir per class, shares
    shrinking as classes arrive), and the strategy's outputs are masked before its
    criterion: incoming rows keep only the units of the classes present in the incoming
    minibatch, replayed rows the units of every class seen so far. With the default
    cross-entropy the loss is then ``ACECriterion``'s (``clhost-loss-ace``): the mean of
    the restricted cross-entropies over incoming and replayed samples. Training metrics
    are measured on these masked outputs.

    The memory is updated after each iteration with the incoming minibatch, only on its
    first sight (``strategy.train_pass == 0`` in the online template). Minibatches are
    reduced to ``(x, y, t)`` when replayed samples join them.
    """

    def __init__(self, mem_size: int = 200, batch_size_mem: int = 10):
        _require_positive(mem_size=mem_size, batch_size_mem=batch_size_mem)
        self.mem_size, self.batch_size_mem = mem_size, batch_size_mem
        self.buffer = ClassBalancedBuffer(mem_size, adaptive_size=True)
        self.seen_units = torch.zeros(0, dtype=torch.bool)
        self._n_incoming = 0
        self._incoming: TensorData | None = None

    @hookimpl
    def clhost_before_training_iteration(self, strategy: Any) -> None:
        x, y, t = strategy.mbatch[:3]
        self._n_incoming = len(y)
        if getattr(strategy, "train_pass", 0) == 0:
            self._incoming = TensorData(x, y, t)
        memory = self.buffer.buffer
        if len(memory) == 0:
            return
        chosen = torch.randperm(len(memory))[: self.batch_size_mem]
        replay = memory.subset(chosen)
        strategy.mbatch = tuple(
            torch.cat((mine, stored.to(mine.device)))
            for mine, stored in zip((x, y, t), (replay.x, replay.y, replay.t), strict=True)
        )

    @hookimpl
    def clhost_after_forward(self, strategy: Any) -> None:
        output, targets, n = strategy.mb_output, strategy.mb_y, self._n_incoming
        width = output.shape[1]
        incoming = present_units(targets[:n], width)
        seen = self._seen_on(output)
        # A multi-head output can be narrower than units seen on another head's batch.
        self.seen_units = torch.cat((seen[:width] | incoming, seen[width:]))
        seen = self.seen_units[:width]
        allowed = torch.cat((incoming.expand(n, -1), seen.expand(len(targets) - n, -1)))
        strategy.mb_output = restrict_logits(output, allowed)

    @hookimpl
    def clhost_after_training_iteration(self) -> None:
        if self._incoming is not None:
            self.buffer.update_from_data(self._incoming)
            self._incoming = None

    def _seen_on(self, output: Tensor) -> Tensor:
        """The seen-class mask on the output's device, grown to at least its width."""
        seen, width = self.seen_units, output.shape[1]
        if seen.device != output.device:
            seen = seen.to(output.device)
        if len(seen) < width:
            seen = torch.cat((seen, seen.new_zeros(width - len(seen))))
        return seen

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state_dict(), "seen_units": self.seen_units}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        seen = state.get("seen_units") if isinstance(state, dict) else None
        if not isinstance(seen, Tensor) or "buffer" not in state:
            raise CheckpointError("ERACEPlugin state needs its buffer and seen_units")
        self.buffer.load_state_dict(state["buffer"])
        self.seen_units = seen.bool()


def _require_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ParameterError(f"{name} must be a positive integer, got {value!r}")
