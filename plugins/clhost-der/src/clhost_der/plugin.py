"""DER and DER++: match the logits the model gave to stored samples when it saw them."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import TensorData
from clhost.errors import ParameterError
from clhost.models import MultiTaskModule
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal.buffers import check_size
from clhost_buffer_reservoir import ReservoirSamplingBuffer


class DERPlugin(SupervisedPlugin):
    """Dark Experience Replay (Buzzega et al., NeurIPS 2020).

    Every training minibatch enters a reservoir memory together with the logits the
    model produced for it. Each iteration adds ``alpha`` times the mean squared distance
    between the current logits of a memory minibatch and the stored ones ("der"); with
    ``beta > 0`` (DER++) also ``beta`` times the cross-entropy on a second memory
    minibatch ("der++"). Logits stored before the classifier grew are compared on the
    units that existed then only.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    def __init__(
        self,
        mem_size: int = 200,
        batch_size_mem: int | None = None,
        alpha: float = 0.1,
        beta: float = 0.5,
    ):
        if alpha < 0 or beta < 0:
            raise ParameterError(f"alpha and beta must be non-negative, got {alpha}, {beta}")
        if batch_size_mem is not None and batch_size_mem < 1:
            raise ParameterError(f"batch_size_mem must be positive, got {batch_size_mem}")
        self.memory = ReservoirSamplingBuffer(check_size("mem_size", mem_size))
        self.batch_size_mem, self.alpha, self.beta = batch_size_mem, alpha, beta

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> list[tuple[str, Tensor]] | None:
        if len(self.memory) == 0:
            return None
        size = self.batch_size_mem or strategy.train_mb_size
        x, _, t, logits, width = self._sample(size)
        output = _forward(strategy.model, x, t)
        shared = min(output.shape[1], logits.shape[1])
        mask = torch.arange(shared, device=width.device) < width.unsqueeze(1)
        squared = (output[:, :shared] - logits[:, :shared]).pow(2) * mask
        terms = [("der", self.alpha * squared.sum() / mask.sum().clamp(min=1))]
        if self.beta > 0:
            x, y, t, _, _ = self._sample(size)
            terms.append(("der++", self.beta * F.cross_entropy(_forward(strategy.model, x, t), y)))
        return terms

    @hookimpl
    def clhost_after_training_iteration(self, strategy: Any) -> None:
        x, y, t = strategy.mbatch[:3]
        logits = strategy.mb_output.detach()
        width = torch.full((len(y),), logits.shape[1], dtype=torch.long, device=y.device)
        stored_width = self.memory.buffer.extras["logits"].shape[1] if len(self.memory) else 0
        if stored_width > logits.shape[1]:
            logits = F.pad(logits, (0, stored_width - logits.shape[1]))
        elif 0 < stored_width < logits.shape[1]:
            held = self.memory.buffer
            padded = F.pad(held.extras["logits"], (0, logits.shape[1] - stored_width))
            self.memory.buffer = held.with_extra("logits", padded)
        self.memory.update_from_data(
            TensorData(x.detach(), y, t, {"logits": logits, "logit_width": width})
        )

    def _sample(self, size: int) -> tuple[Tensor, ...]:
        held = self.memory.buffer
        index = torch.randperm(len(held), device=held.y.device)[:size]
        return (
            held.x[index],
            held.y[index],
            held.t[index],
            held.extras["logits"][index],
            held.extras["logit_width"][index],
        )

    def state_dict(self) -> dict[str, Any]:
        return {"memory": self.memory.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.memory.load_state_dict(state["memory"])


def _forward(model: torch.nn.Module, x: Tensor, t: Tensor) -> Tensor:
    return model(x, t) if isinstance(model, MultiTaskModule) else model(x)
