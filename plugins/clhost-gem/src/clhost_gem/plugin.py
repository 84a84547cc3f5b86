"""GEM as a training plugin: each update projected to agree with every memory's gradient."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import TensorData
from clhost.distributed import REPLICATED, all_reduce_mean, rank_part, world_size
from clhost.errors import CheckpointError
from clhost.gradients import assign_gradient, current_gradient, trainable_parameters
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import experience_tensors, tensor_data_from_state, tensor_data_state
from clhost.validate import number, positive_int
from clhost_gem.batched import memory_gradients
from clhost_gem.qp import project_to_constraints


class GEMPlugin(SupervisedPlugin):
    """Gradient Episodic Memory (Lopez-Paz & Ranzato, 2017).

    After each experience ``patterns_per_experience`` of its samples, chosen at random,
    are kept as that experience's episodic memory. At every iteration the gradient of
    the loss on each memory is computed; if the minibatch gradient disagrees with any
    of them (negative dot product) it is replaced by the closest gradient that agrees
    with all of them, found by solving the dual quadratic program (``qp.py``).
    ``memory_strength`` is the margin: a lower bound on the dual variables, which leans
    the update towards the memories' gradients (the paper's gamma).

    Under DDP each rank computes the memories' gradients on its part of every memory and
    they are averaged over ranks, as DDP averages the training gradient, so every rank
    solves the same program and projects alike.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "gem"
    distributed = REPLICATED  # memories: rank 0's, broadcast after each experience

    def __init__(self, patterns_per_experience: int = 256, memory_strength: float = 0.5):
        self.patterns_per_experience = positive_int(
            "patterns_per_experience", patterns_per_experience
        )
        self.memory_strength = number("memory_strength", memory_strength, low=0.0)
        self.memories: list[TensorData] = []

    @hookimpl
    def clhost_after_backward(self, strategy: Any) -> None:
        if not self.memories:
            return
        params = trainable_parameters(strategy.model)
        constraints = memory_gradients(strategy, [_share(m) for m in self.memories], params)
        all_reduce_mean(constraints)
        projected = project_to_constraints(
            current_gradient(params), constraints, self.memory_strength
        )
        assign_gradient(params, projected)

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        # Loaded memories come back wherever they were saved; train with them on the device.
        self.memories = [memory.to(strategy.device) for memory in self.memories]

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        data = experience_tensors(strategy.experience)
        chosen = torch.randperm(len(data))[: self.patterns_per_experience]
        self.memories.append(data.subset(chosen).to(strategy.device))

    def state_dict(self) -> dict[str, Any]:
        return {"memories": [tensor_data_state(memory) for memory in self.memories]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "memories" not in state:
            raise CheckpointError("GEM state lacks 'memories'")
        self.memories = [tensor_data_from_state(memory) for memory in state["memories"]]


def _share(memory: TensorData) -> tuple[Tensor, ...]:
    """This rank's part of ``memory`` (all of it in one process)."""
    if world_size() == 1:
        return memory.tensors
    return memory.subset(rank_part(torch.arange(len(memory), device=memory.y.device))).tensors
