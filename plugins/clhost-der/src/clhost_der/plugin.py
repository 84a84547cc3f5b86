"""DER and DER++: match the logits the model gave to stored samples."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor
from torch.nn import functional as F

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import TensorBatchLoader, TensorData
from clhost.distributed import REPLICATED, SHARDED, my_share, share_of
from clhost.models import forward_with_tasks
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import experience_tensors
from clhost.validate import non_negative_int, number, one_of, positive_int
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_buffer_reservoir import ReservoirSamplingBuffer

MemoryUpdate = Literal["minibatch", "experience"]
MEMORY_UPDATES = ("minibatch", "experience")


class DERPlugin(SupervisedPlugin):
    """Dark Experience Replay (Buzzega et al., NeurIPS 2020).

    Stored samples keep the logits the model gave them. Each iteration adds ``alpha``
    times the mean squared distance between the current logits of a memory minibatch
    and the stored ones ("der"); with ``beta > 0`` (DER++) also ``beta`` times the
    cross-entropy on a second memory minibatch ("der++"). Logits stored before the
    classifier grew are compared on the units that existed then only.

    ``memory_update`` says when samples are stored. ``"minibatch"`` (the paper's): every
    training minibatch enters a reservoir memory with the logits of that moment, so no
    task boundaries are needed. ``"experience"`` (Avalanche's): after each experience,
    its samples enter a class-balanced memory with the logits of the trained model in
    evaluation mode.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "der"

    state_components = ("memory",)

    @property
    def distributed(self) -> str:
        """Sharded when every minibatch enters the memory (each rank keeps a reservoir of
        its share of ``mem_size`` over its own minibatches), else replicated."""
        return SHARDED if self.memory_update == "minibatch" else REPLICATED

    def __init__(
        self,
        mem_size: int = 200,
        batch_size_mem: int | None = None,
        alpha: float = 0.1,
        beta: float = 0.5,
        memory_update: MemoryUpdate = "minibatch",
    ):
        number("alpha", alpha, low=0)
        number("beta", beta, low=0)
        if batch_size_mem is not None:
            positive_int("batch_size_mem", batch_size_mem)
        one_of("memory_update", memory_update, MEMORY_UPDATES)
        size = non_negative_int("mem_size", mem_size)
        self.memory: ReservoirSamplingBuffer | ClassBalancedBuffer = (
            ReservoirSamplingBuffer(share_of(size))
            if memory_update == "minibatch"
            else ClassBalancedBuffer(size, adaptive_size=True)
        )
        self.batch_size_mem, self.alpha, self.beta = batch_size_mem, alpha, beta
        self.memory_update = memory_update
        self._held: TensorData | None = None

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> list[tuple[str, Tensor]] | None:
        held = self._samples()
        if len(held) == 0:
            return None
        size = self.batch_size_mem or strategy.train_mb_size
        sharded = self.memory_update == "minibatch"
        x, _, t, logits, width = _sample(held, size, sharded)
        output = forward_with_tasks(strategy.model, x, t)
        shared = min(output.shape[1], logits.shape[1])
        mask = torch.arange(shared, device=width.device) < width.unsqueeze(1)
        # where, not a product: a multi-head output fills the units a row's head lacks
        # with the dtype's lowest value, whose square is inf, and inf * 0 is NaN
        difference = output[:, :shared] - logits[:, :shared]
        squared = torch.where(mask, difference, 0.0).pow(2)
        terms = [("der", self.alpha * squared.sum() / mask.sum().clamp(min=1))]
        if self.beta > 0:
            x, y, t, _, _ = _sample(held, size, sharded)
            replayed = forward_with_tasks(strategy.model, x, t)
            terms.append(("der++", self.beta * F.cross_entropy(replayed, y)))
        return terms

    @hookimpl
    def clhost_after_training_iteration(self, strategy: Any) -> None:
        if self.memory_update == "minibatch":
            x, y, t = strategy.mbatch[:3]
            self._store(TensorData(x.detach(), y, t), strategy.mb_output.detach())

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        if self.memory_update == "experience":
            data = experience_tensors(strategy.experience).to(strategy.device)
            self._store(data, _eval_logits(strategy.model, data, strategy.eval_mb_size))

    def _store(self, data: TensorData, logits: Tensor) -> None:
        """Add ``data`` with its ``logits``; stored and new logits are padded to one width."""
        groups = (
            list(self.memory.buffer_groups.values())
            if isinstance(self.memory, ClassBalancedBuffer)
            else [self.memory]
        )
        stored_width = max((_width(group) for group in groups), default=0)
        width = torch.full((len(data),), logits.shape[1], dtype=torch.long, device=data.y.device)
        if stored_width > logits.shape[1]:
            logits = F.pad(logits, (0, stored_width - logits.shape[1]))
        for group in groups:
            if 0 < _width(group) < logits.shape[1]:
                held = group.buffer
                padded = F.pad(held.extras["logits"], (0, logits.shape[1] - _width(group)))
                group.buffer = held.with_extra("logits", padded)
        self.memory.update_from_data(
            TensorData(data.x, data.y, data.t, {"logits": logits, "logit_width": width})
        )
        self._held = None

    def _samples(self) -> TensorData:
        """The memory's samples; a class-balanced memory's groups are joined once per update."""
        if isinstance(self.memory, ReservoirSamplingBuffer):
            return self.memory.buffer
        if self._held is None:
            self._held = self.memory.buffer
        return self._held

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._held = None


def _width(group: ReservoirSamplingBuffer) -> int:
    return group.buffer.extras["logits"].shape[1] if len(group) else 0


def _sample(held: TensorData, size: int, sharded: bool) -> tuple[Tensor, ...]:
    """``size`` stored samples in all: under DDP each rank draws its share from its own
    part of a sharded memory, or takes its part of rank 0's draw from a replicated one."""
    order = torch.randperm(len(held), device=held.y.device)
    index = order[: share_of(size)] if sharded else my_share(order[:size])
    return (
        held.x[index],
        held.y[index],
        held.t[index],
        held.extras["logits"][index],
        held.extras["logit_width"][index],
    )


@torch.no_grad()
def _eval_logits(model: torch.nn.Module, data: TensorData, batch_size: int) -> Tensor:
    """The logits of ``data`` in evaluation mode, in minibatches; the mode is restored."""
    was_training = model.training
    model.eval()
    try:
        batches = TensorBatchLoader(data, batch_size)
        return torch.cat([forward_with_tasks(model, x, t) for x, _, t, *_ in batches])
    finally:
        model.train(was_training)
