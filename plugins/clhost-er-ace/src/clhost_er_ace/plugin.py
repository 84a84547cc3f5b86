"""ERACEPlugin: replay from a class-balanced memory, with asymmetric logit masks."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import TensorData
from clhost.distributed import REPLICATED, all_gather_rows, my_share
from clhost.errors import CheckpointError
from clhost.models import forward_with_tasks
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import first_sight
from clhost.validate import positive_int
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_loss_ace import present_units, restrict_logits


class ERACEPlugin(SupervisedPlugin):
    """ER-ACE (Caccia et al., 2022, "New Insights on Reducing Abrupt Representation
    Change in Online Continual Learning").

    The strategy's outputs for the incoming minibatch keep only the units of the classes
    present in it, so its criterion (cross-entropy by default) cannot push old classes
    down. Beside it, ``batch_size_mem`` samples drawn uniformly from a class-balanced
    memory of ``mem_size`` samples (one reservoir per class, shares shrinking as classes
    arrive) add their mean cross-entropy over the units of every class seen so far, as
    the loss term ``"ace_replay"``. The loss is the paper's sum of the two means, so the
    replayed minibatch weighs as much as the incoming one whatever their sizes (with the
    default criterion, ``ACECriterion`` of ``clhost-loss-ace``). Training metrics are
    measured on the masked incoming outputs.

    The memory takes each incoming sample once, after its first update (first epoch of
    an experience, first pass of an online minibatch).

    Under DDP every rank sees the whole incoming minibatch (gathered from the ranks) for
    the masks and the memory, so the memory is the one a single process keeps; each
    rank replays its part of the memory minibatch rank 0 drew. A minibatch smaller than
    the number of ranks is padded by repeating samples (as ``DistributedSampler`` pads),
    and the memory then takes the repeats too: under DDP give minibatches of at least one
    sample per rank.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "er-ace"
    distributed = REPLICATED  # every rank updates its memory from the global minibatch

    def __init__(self, mem_size: int = 200, batch_size_mem: int = 10):
        self.mem_size = positive_int("mem_size", mem_size)
        self.batch_size_mem = positive_int("batch_size_mem", batch_size_mem)
        self.buffer = ClassBalancedBuffer(mem_size, adaptive_size=True)
        self.seen_units = torch.zeros(0, dtype=torch.bool)
        self.replayed: TensorData | None = None  # the last step's replay, for inspection
        self._incoming: TensorData | None = None
        self._targets = torch.zeros(0, dtype=torch.long)  # the global minibatch's

    @hookimpl
    def clhost_before_training_iteration(self, strategy: Any) -> None:
        x, y, t = strategy.mbatch[:3]
        self._targets = all_gather_rows(y)  # y itself in one process
        if first_sight(strategy):
            self._incoming = TensorData(all_gather_rows(x), self._targets, all_gather_rows(t))

    @hookimpl
    def clhost_after_forward(self, strategy: Any) -> None:
        output = strategy.mb_output
        width = output.shape[1]
        incoming = present_units(self._targets, width)
        seen = self._seen_on(output)
        # A multi-head output can be narrower than units seen on another head's batch.
        self.seen_units = torch.cat((seen[:width] | incoming, seen[width:]))
        strategy.mb_output = restrict_logits(output, incoming)

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> tuple[str, Tensor] | None:
        memory = self.buffer.buffer
        if len(memory) == 0:
            return None
        drawn = torch.randperm(len(memory))[: self.batch_size_mem]
        replay = memory.subset(my_share(drawn))  # under DDP: this rank's part of rank 0's
        replay = self.replayed = replay.to(strategy.device)
        output = forward_with_tasks(strategy.model, replay.x, replay.t)
        seen = self._seen_on(output)[: output.shape[1]]
        return "ace_replay", F.cross_entropy(restrict_logits(output, seen), replay.y)

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
