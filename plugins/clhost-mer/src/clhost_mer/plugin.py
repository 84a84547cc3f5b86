"""MERPlugin: Meta-Experience Replay as a meta-learning template's inner and outer steps."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from clhost import hookimpl
from clhost.capabilities import META_LEARNING, REHEARSAL, Capabilities
from clhost.data import TensorData
from clhost.distributed import UNSUPPORTED
from clhost.errors import CheckpointError
from clhost.models import forward_with_tasks
from clhost.plugin import SupervisedMetaLearningPlugin
from clhost.rehearsal import first_sight
from clhost.validate import number, positive_int
from clhost_buffer_reservoir import ReservoirSamplingBuffer

Batch = tuple[Tensor, Tensor, Tensor]


class MERPlugin(SupervisedMetaLearningPlugin):
    """MER (Riemer et al., 2019, "Learning to Learn without Forgetting by Maximizing
    Transfer and Minimizing Interference").

    For each incoming minibatch, from the slow weights θ_A: ``n_inner_steps`` Reptile
    batches, each a sequence of plain SGD steps from θ_0 (at the learning rate of the
    strategy's optimizer's first parameter group, the paper's α; the optimizer's own rule
    is not used) on the incoming minibatch and then on ``batch_size_mem`` samples drawn
    from a reservoir memory of ``mem_size`` samples, followed by the within-batch Reptile
    step θ ← θ_0 + ``beta`` (θ − θ_0); then the across-batch step
    θ ← θ_A + ``gamma`` (θ − θ_A). Sequential steps followed by a partial move reward
    gradients that agree and penalise those that interfere (the paper's Eq. 7).

    By default (``samples_per_step=1``) each SGD step takes one sample: with
    ``train_mb_size=1`` exactly the paper's Algorithm 1, with larger minibatches
    Avalanche's reading of it (the minibatch is the current part of every Reptile batch).
    ``None`` steps on each group (the incoming minibatch, the memory's draw)
    at once, with the criterion summed over its samples: the per-sample sequence to first
    order in the learning rate, but MER's gradient-alignment term is of second order, so
    this faster variant loses it (the README's "Speed and accuracy"); a larger number cuts
    each group into steps of that many samples, between the two. The memory is the
    paper's reservoir over every sample seen, offered each incoming sample once (first
    epoch, first online pass) after its update.
    """

    capabilities = Capabilities(
        provides={REHEARSAL},
        requires={META_LEARNING: "its Reptile steps are the template's inner and outer updates"},
    )
    state_key = "mer"
    distributed = UNSUPPORTED
    distributed_reason = "its steps move the weights directly, outside DDP's gradient averaging"

    def __init__(
        self,
        mem_size: int = 200,
        batch_size_mem: int = 10,
        n_inner_steps: int = 5,
        beta: float = 0.1,
        gamma: float = 0.1,
        samples_per_step: int | None = 1,
    ):
        self.mem_size = positive_int("mem_size", mem_size)
        self.batch_size_mem = positive_int("batch_size_mem", batch_size_mem)
        self.n_inner_steps = positive_int("n_inner_steps", n_inner_steps)
        self.beta = number("beta", beta, low=0, high=1, low_open=True)
        self.gamma = number("gamma", gamma, low=0, high=1, low_open=True)
        self.samples_per_step = (
            None if samples_per_step is None else positive_int("samples_per_step", samples_per_step)
        )
        self.storage_policy = ReservoirSamplingBuffer(mem_size)
        self._slow: list[Tensor] = []

    def inner_updates(self, strategy: Any) -> None:
        model, criterion = strategy.model, strategy.loss_fn
        params = _trained(model)
        weights = [p.detach() for p in params]  # their storage, stepped outside autograd
        lr = strategy.optimizer.param_groups[0]["lr"]
        x, y, t = strategy.mb_x, strategy.mb_y, strategy.mb_task_id
        with torch.no_grad():  # the minibatch's loss before its update, as SGD's
            strategy.loss = criterion(forward_with_tasks(model, x, t), y)
        incoming = self._pieces((x, y, t))
        self._slow = [w.clone() for w in weights]
        start = [torch.empty_like(w) for w in weights]
        for drawn in self._drawn_pieces(strategy.device):
            torch._foreach_copy_(start, weights)
            for x, y, t in (*incoming, *drawn):
                loss = criterion(forward_with_tasks(model, x, t), y)
                grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
                torch._foreach_add_(weights, grads, alpha=-lr * len(y))  # summed over the piece
            torch._foreach_lerp_(weights, start, 1.0 - self.beta)  # θ ← θ_0 + β (θ − θ_0)

    def outer_update(self, strategy: Any) -> None:
        weights = [p.detach() for p in _trained(strategy.model)]
        torch._foreach_lerp_(weights, self._slow, 1.0 - self.gamma)  # θ ← θ_A + γ (θ − θ_A)
        self._slow = []

    @hookimpl
    def clhost_after_outer_update(self, strategy: Any) -> None:
        if first_sight(strategy):
            self.storage_policy.add(strategy, TensorData(*strategy.mbatch[:3]))

    def _pieces(self, group: Batch) -> list[Batch]:
        """``group`` cut into its steps of ``samples_per_step`` samples, in order."""
        if self.samples_per_step is None:
            return [group]
        return list(zip(*(tensor.split(self.samples_per_step) for tensor in group), strict=True))

    def _drawn_pieces(self, device: Any) -> list[list[Batch]]:
        """For each Reptile batch, the steps on ``batch_size_mem`` distinct memory samples
        (``n_inner_steps`` rows of one gather); no steps while the memory is empty."""
        memory = self.storage_policy.buffer
        if len(memory) == 0:
            return [[] for _ in range(self.n_inner_steps)]
        size = min(self.batch_size_mem, len(memory))
        rows = torch.rand(self.n_inner_steps, len(memory)).topk(size, dim=1).indices
        x, y, t = (tensor[rows].to(device) for tensor in memory.tensors[:3])
        return [self._pieces(draw) for draw in zip(x, y, t, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        return {"storage_policy": self.storage_policy.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "storage_policy" not in state:
            raise CheckpointError("MERPlugin state needs its storage_policy")
        self.storage_policy.load_state_dict(state["storage_policy"])


def _trained(model: nn.Module) -> list[Tensor]:
    return [p for p in model.parameters() if p.requires_grad]
