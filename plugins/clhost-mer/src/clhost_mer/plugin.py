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
    strategy's optimizer, the paper's α; its own rule is not used) on the
    incoming minibatch and then on ``batch_size_mem`` samples drawn from a reservoir
    memory of ``mem_size`` samples, followed by the within-batch Reptile step
    θ ← θ_0 + ``beta`` (θ − θ_0); then the across-batch step θ ← θ_A + ``gamma`` (θ − θ_A).
    Stepping on the memory after the incoming samples is what rewards gradients that
    agree and penalises those that interfere (the paper's Eq. 7).

    The paper steps on one sample at a time (``samples_per_step=1``). By default
    (``None``) each step takes its whole group (the incoming minibatch, the memory's
    draw) at once, with the criterion summed over the group's samples: the paper's
    sequence of per-sample steps to first order in the learning rate, two steps per
    Reptile batch and no Python loop over samples; a number cuts each group into
    steps of that many samples, between the two. The memory is the paper's reservoir
    over every sample seen, offered each incoming sample once (first epoch, first
    online pass) after its update.
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
        samples_per_step: int | None = None,
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
        params = _trained(strategy.model)
        lr = strategy.optimizer.param_groups[0]["lr"]
        current = (strategy.mb_x, strategy.mb_y, strategy.mb_task_id)
        draws = self._draws(strategy.device)
        self._slow = [p.detach().clone() for p in params]
        for step in range(self.n_inner_steps):
            start = [p.detach().clone() for p in params]
            for piece, (x, y, t) in enumerate(self._pieces(current, *draws[step : step + 1])):
                loss = strategy.loss_fn(forward_with_tasks(strategy.model, x, t), y)
                if step == piece == 0:  # the minibatch's loss before its update, as SGD's
                    strategy.loss = loss.detach()
                grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
                with torch.no_grad():  # one step per sample of the group, to first order
                    torch._foreach_add_(params, grads, alpha=-lr * len(y))
            with torch.no_grad():  # θ ← θ_0 + β (θ − θ_0)
                torch._foreach_lerp_(params, start, 1.0 - self.beta)

    def outer_update(self, strategy: Any) -> None:
        with torch.no_grad():  # θ ← θ_A + γ (θ − θ_A)
            torch._foreach_lerp_(_trained(strategy.model), self._slow, 1.0 - self.gamma)
        self._slow = []

    @hookimpl
    def clhost_after_outer_update(self, strategy: Any) -> None:
        if first_sight(strategy):
            self.storage_policy.add(strategy, TensorData(*strategy.mbatch[:3]))

    def _pieces(self, *groups: Batch) -> list[Batch]:
        """The groups of a Reptile batch, in order, each cut into ``samples_per_step``."""
        if self.samples_per_step is None:
            return list(groups)
        size = self.samples_per_step
        return [
            (x, y, t)
            for group in groups
            for x, y, t in zip(*(tensor.split(size) for tensor in group), strict=True)
        ]

    def _draws(self, device: Any) -> list[Batch]:
        """For each Reptile batch, ``batch_size_mem`` distinct memory samples (as
        ``n_inner_steps`` rows of one gather); none while the memory is empty."""
        memory = self.storage_policy.buffer
        if len(memory) == 0:
            return []
        size = min(self.batch_size_mem, len(memory))
        rows = torch.rand(self.n_inner_steps, len(memory)).topk(size, dim=1).indices
        x, y, t = (tensor[rows].to(device) for tensor in memory.tensors[:3])
        return list(zip(x, y, t, strict=True))

    def state_dict(self) -> dict[str, Any]:
        return {"storage_policy": self.storage_policy.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "storage_policy" not in state:
            raise CheckpointError("MERPlugin state needs its storage_policy")
        self.storage_policy.load_state_dict(state["storage_policy"])


def _trained(model: nn.Module) -> list[Tensor]:
    return [p for p in model.parameters() if p.requires_grad]
