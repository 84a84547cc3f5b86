"""MIRPlugin: replay the memory samples whose loss a virtual update would raise most."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from clhost import hookimpl
from clhost.data import TensorData
from clhost.errors import CheckpointError, ParameterError
from clhost.models import MultiTaskModule
from clhost.plugin import SupervisedPlugin
from clhost_buffer_reservoir import ReservoirSamplingBuffer


class MIRPlugin(SupervisedPlugin):
    """Maximally Interfered Retrieval (Aljundi et al., 2019, "Online Continual Learning
    with Maximally Interfered Retrieval").

    Before each training step, ``subsample`` samples are drawn from a reservoir memory of
    ``mem_size`` samples. A virtual SGD step is taken on the incoming minibatch alone
    (the optimizer's learning rate of each parameter, cross-entropy loss); the
    ``batch_size_mem`` candidates whose loss rises most under it are the ones the real
    step would hurt most, and they join the minibatch. The memory takes each incoming
    minibatch after its update, once (on its first pass in the online template).
    Minibatches are reduced to ``(x, y, t)`` when replayed samples join them.
    """

    def __init__(self, batch_size_mem: int = 10, mem_size: int = 200, subsample: int = 50):
        _require_positive(batch_size_mem=batch_size_mem, mem_size=mem_size, subsample=subsample)
        if subsample < batch_size_mem:
            raise ParameterError(
                f"subsample ({subsample}) must be at least batch_size_mem ({batch_size_mem})"
            )
        self.batch_size_mem, self.mem_size, self.subsample = batch_size_mem, mem_size, subsample
        self.buffer = ReservoirSamplingBuffer(mem_size)
        self._incoming: TensorData | None = None

    @hookimpl
    def clhost_before_training_iteration(self, strategy: Any) -> None:
        x, y, t = strategy.mbatch[:3]
        if getattr(strategy, "train_pass", 0) == 0:
            self._incoming = TensorData(x, y, t)
        memory = self.buffer.buffer
        if len(memory) == 0:
            return
        candidates = memory.subset(torch.randperm(len(memory))[: self.subsample]).to(x.device)
        scores = interference_scores(
            strategy.model,
            strategy.optimizer,
            (x, y, t),
            (candidates.x, candidates.y, candidates.t),
        )
        chosen = scores.topk(min(self.batch_size_mem, len(scores))).indices
        strategy.mbatch = tuple(
            torch.cat((mine, stored[chosen]))
            for mine, stored in zip(
                (x, y, t), (candidates.x, candidates.y, candidates.t), strict=True
            )
        )

    @hookimpl
    def clhost_after_training_iteration(self) -> None:
        if self._incoming is not None:
            self.buffer.update_from_data(self._incoming)
            self._incoming = None

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "buffer" not in state:
            raise CheckpointError("MIRPlugin state needs its buffer")
        self.buffer.load_state_dict(state["buffer"])


def interference_scores(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    incoming: tuple[Tensor, Tensor, Tensor],
    candidates: tuple[Tensor, Tensor, Tensor],
) -> Tensor:
    """How much the loss of each candidate rises after one virtual SGD step on
    ``incoming`` (loss after minus loss before); the model is left unchanged.

    Parameters the optimizer does not train stay fixed in the virtual step. Buffers
    (e.g. BatchNorm statistics) are restored after the extra forward passes.
    """
    saved_buffers = [(b, b.clone()) for b in model.buffers()]
    rates = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    params = {name: p for name, p in model.named_parameters() if p.requires_grad and id(p) in rates}
    x, y, t = incoming
    loss = F.cross_entropy(_forward(model, x, t), y)
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    with torch.no_grad():
        virtual = {
            name: p if g is None else p - rates[id(p)] * g
            for (name, p), g in zip(params.items(), grads, strict=True)
        }
        cx, cy, ct = candidates
        before = F.cross_entropy(_forward(model, cx, ct), cy, reduction="none")
        args = (cx, ct) if isinstance(model, MultiTaskModule) else (cx,)
        after = F.cross_entropy(functional_call(model, virtual, args), cy, reduction="none")
        for buffer, value in saved_buffers:
            buffer.copy_(value)
    return after - before


def _forward(model: nn.Module, x: Tensor, t: Tensor) -> Tensor:
    return model(x, t) if isinstance(model, MultiTaskModule) else model(x)


def _require_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ParameterError(f"{name} must be a positive integer, got {value!r}")
