"""MIRPlugin: replay the memory samples whose loss a virtual update would raise most."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import TensorData
from clhost.distributed import all_gather_rows, all_reduce_mean, broadcast_tensor, rank_part
from clhost.errors import ParameterError
from clhost.models import MultiTaskModule, forward_with_tasks
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import first_sight
from clhost.validate import one_of, positive_int
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_buffer_reservoir import ReservoirSamplingBuffer

Memory = Literal["reservoir", "class_balanced"]
MEMORIES = ("reservoir", "class_balanced")


class MIRPlugin(SupervisedPlugin):
    """Maximally Interfered Retrieval (Aljundi et al., 2019, "Online Continual Learning
    with Maximally Interfered Retrieval").

    At each training step, ``subsample`` samples are drawn from a reservoir memory of
    ``mem_size`` samples. A virtual SGD step is taken on the loss of the incoming
    minibatch (the optimizer's learning rate of each parameter); the ``batch_size_mem``
    candidates whose loss rises most under it are the ones the real step would hurt
    most. Their mean cross-entropy is added to the loss as its own term,
    ``"mir_replay"``, as in the paper: the incoming and the replayed minibatch weigh the
    same whatever their sizes. The memory takes each incoming sample once, after its
    first update (first epoch, first pass): with ``memory="reservoir"`` (the paper's) a
    uniform sample of the stream, with ``"class_balanced"`` an equal share per class seen,
    each a uniform sample of its class (``ClassBalancedBuffer``, Avalanche's memory).

    Under DDP every rank stores the whole incoming minibatch (gathered from the ranks),
    scores rank 0's candidates after a virtual step on the gradient averaged over ranks,
    as DDP averages it, and replays its part of the chosen samples: the memory and the
    choice are one process's.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "mir"
    distributed = "replicated"  # every rank updates its memory from the global minibatch
    state_components = ("buffer",)

    def __init__(
        self,
        batch_size_mem: int = 10,
        mem_size: int = 200,
        subsample: int = 50,
        memory: Memory = "reservoir",
    ):
        batch_size_mem = positive_int("batch_size_mem", batch_size_mem)
        mem_size = positive_int("mem_size", mem_size)
        subsample = positive_int("subsample", subsample)
        if subsample < batch_size_mem:
            raise ParameterError(
                f"subsample ({subsample}) must be at least batch_size_mem ({batch_size_mem})"
            )
        self.batch_size_mem, self.mem_size, self.subsample = batch_size_mem, mem_size, subsample
        self.memory = one_of("memory", memory, MEMORIES)
        self.buffer: ReservoirSamplingBuffer | ClassBalancedBuffer = (
            ReservoirSamplingBuffer(mem_size)
            if memory == "reservoir"
            else ClassBalancedBuffer(mem_size, adaptive_size=True)
        )
        self.replayed: TensorData | None = None  # the last step's choice, for inspection
        self._incoming: TensorData | None = None

    @hookimpl
    def clhost_before_training_iteration(self, strategy: Any) -> None:
        if first_sight(strategy):  # every rank's part: the global minibatch
            self._incoming = TensorData(*(all_gather_rows(t) for t in strategy.mbatch[:3]))

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> tuple[str, Tensor] | None:
        memory = self.buffer.buffer
        if len(memory) == 0:
            return None
        picked = broadcast_tensor(torch.randperm(len(memory))[: self.subsample])
        candidates = memory.subset(picked).to(strategy.device)
        scores = interference_scores(
            strategy.model,
            strategy.optimizer,
            strategy.loss,
            (candidates.x, candidates.y, candidates.t),
        )
        best = scores.topk(min(self.batch_size_mem, len(scores))).indices
        chosen = candidates.subset(rank_part(best))  # this rank's part of the choice
        self.replayed = chosen
        output = forward_with_tasks(strategy.model, chosen.x, chosen.t)
        return "mir_replay", F.cross_entropy(output, chosen.y)

    @hookimpl
    def clhost_after_training_iteration(self) -> None:
        if self._incoming is not None:
            self.buffer.update_from_data(self._incoming)
            self._incoming = None


def interference_scores(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: Tensor,
    candidates: tuple[Tensor, Tensor, Tensor],
) -> Tensor:
    """How much the cross-entropy of each candidate rises after one virtual SGD step on
    ``loss`` (loss after minus loss before); the model is left unchanged.

    ``loss`` is usually the incoming minibatch's loss, still to be backpropagated: its
    graph is kept; under DDP its gradient is averaged over ranks. Parameters the
    optimizer does not train stay fixed in the virtual step. The extra forward passes run
    on copies of the buffers (e.g. BatchNorm statistics), so the module's own buffers,
    which that graph may hold, are untouched.
    """
    rates = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    params = {name: p for name, p in model.named_parameters() if p.requires_grad and id(p) in rates}
    grads = torch.autograd.grad(loss, list(params.values()), retain_graph=True, allow_unused=True)
    grads = tuple(g if g is None else all_reduce_mean(g) for g in grads)  # as DDP averages
    cx, cy, ct = candidates
    args = (cx, ct) if isinstance(model, MultiTaskModule) else (cx,)  # functional_call's

    def candidate_losses(weights: dict[str, Tensor]) -> Tensor:
        buffers = {name: b.clone() for name, b in model.named_buffers()}
        output = functional_call(model, {**weights, **buffers}, args)
        return F.cross_entropy(output, cy, reduction="none")

    with torch.no_grad():
        virtual = {
            name: p if g is None else p - rates[id(p)] * g
            for (name, p), g in zip(params.items(), grads, strict=True)
        }
        return candidate_losses(virtual) - candidate_losses({})
