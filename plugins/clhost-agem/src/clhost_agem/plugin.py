"""A-GEM as a training plugin: each update projected to not increase the memory loss."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import TensorData
from clhost.distributed import REPLICATED, all_reduce_mean, my_share
from clhost.errors import CheckpointError
from clhost.gradients import (
    assign_gradient,
    current_gradient,
    gradient_of,
    loss_on_batch,
    trainable_parameters,
)
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import experience_tensors, tensor_data_from_state, tensor_data_state
from clhost.validate import positive_int


def project_away(gradient: Tensor, reference: Tensor) -> Tensor:
    """``gradient`` minus its component along ``reference`` when the two disagree
    (negative dot product); ``gradient`` unchanged otherwise. No host synchronisation."""
    dot = gradient @ reference
    norm = (reference @ reference).clamp_min(torch.finfo(reference.dtype).tiny)
    return gradient - (dot.clamp(max=0) / norm) * reference


class AGEMPlugin(SupervisedPlugin):
    """Averaged Gradient Episodic Memory (Chaudhry et al., 2019).

    After each experience ``patterns_per_experience`` of its samples, chosen at random, are
    kept in an episodic memory. At every iteration the gradient of the loss on
    ``sample_size`` samples drawn from the memory, the same number from each past
    experience, is the reference ``g_ref``; when
    the minibatch gradient ``g`` would increase that loss (``g . g_ref < 0``) it is
    replaced by ``g - (g . g_ref / g_ref . g_ref) g_ref``, the closest gradient that does
    not. The memory holds tensors on the strategy's device.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "agem"
    distributed = REPLICATED  # memory: rank 0's, broadcast after each experience

    def __init__(self, patterns_per_experience: int = 250, sample_size: int = 256):
        self.patterns_per_experience = positive_int(
            "patterns_per_experience", patterns_per_experience
        )
        self.sample_size = positive_int("sample_size", sample_size)
        self.memories: list[TensorData] = []
        self._pool: TensorData | None = None

    @hookimpl
    def clhost_after_backward(self, strategy: Any) -> None:
        if not self.memories:
            return
        params = trainable_parameters(strategy.model)
        reference = gradient_of(loss_on_batch(strategy, self._sample(strategy.device)), params)
        all_reduce_mean(reference)  # as DDP averages the gradient: every rank projects alike
        assign_gradient(params, project_away(current_gradient(params), reference))

    def _sample(self, device: torch.device) -> tuple[Tensor, ...]:
        """``sample_size // experiences`` memories of each past experience (at least
        one), so every past experience weighs the same in the reference gradient."""
        if self._pool is None:  # after the memory changed (or was loaded)
            self._pool = TensorData.concat(self.memories).to(device)
        share = max(self.sample_size // len(self.memories), 1)
        chosen, start = [], 0
        for memory in self.memories:
            chosen.append(start + torch.randperm(len(memory), device=device)[:share])
            start += len(memory)
        index = my_share(torch.cat(chosen))  # under DDP: this rank's part of rank 0's draw
        return tuple(tensor[index] for tensor in self._pool.tensors)

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        data = experience_tensors(strategy.experience)
        chosen = torch.randperm(len(data))[: self.patterns_per_experience]
        self.memories.append(data.subset(chosen).to(strategy.device))
        self._pool = None

    def state_dict(self) -> dict[str, Any]:
        return {"memories": [tensor_data_state(memory) for memory in self.memories]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "memories" not in state:
            raise CheckpointError("A-GEM state lacks 'memories'")
        self.memories = [tensor_data_from_state(memory) for memory in state["memories"]]
        self._pool = None
