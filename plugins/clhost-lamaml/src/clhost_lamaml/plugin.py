"""LaMAMLPlugin: look-ahead MAML with learnable per-parameter learning rates."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clhost import hookimpl
from clhost.capabilities import META_LEARNING, REHEARSAL, Capabilities
from clhost.data import TensorData
from clhost.distributed import UNSUPPORTED
from clhost.errors import CheckpointError
from clhost.plugin import SupervisedMetaLearningPlugin
from clhost.rehearsal import first_sight
from clhost.validate import boolean, number, positive_int
from clhost_buffer_reservoir import ReservoirSamplingBuffer
from clhost_lamaml.lookahead import concat, meta_losses, split_chunks


class LaMAMLPlugin(SupervisedMetaLearningPlugin):
    """La-MAML (Gupta et al., 2020, "La-MAML: Look-ahead Meta Learning for Continual
    Learning").

    Every parameter θ has a learnable learning rate α of its shape (``alpha_init`` at
    first). For each incoming minibatch the fast weights take ``n_inner_updates``
    steps θ ← θ − α ⊙ clamp(∇ℓ, ±``grad_clip_norm``), one per consecutive chunk of it;
    after each step the loss on the minibatch joined with ``buffer_mb_size`` samples of
    a reservoir memory of ``max_buffer_size`` samples is taken, and their mean is the
    meta-loss. Its gradient reaches the slow weights through the steps (differentiated
    through the inner gradients with ``second_order``, first-order MAML without) and α.
    With ``learn_lr``, α takes an SGD step of rate ``lr_alpha`` on its gradient (clipped
    to norm ``grad_clip_norm``). The weights then move by max(α, 0) times their
    clipped meta-gradient, or, with ``sync_update``, by the strategy's optimizer.

    The memory is the paper's reservoir over every sample seen, offered each incoming
    sample once (first epoch, first online pass), after its update. Learning rates of
    parameters a model grows (new classifier units) start at ``alpha_init``.
    """

    capabilities = Capabilities(
        provides={REHEARSAL},
        requires={META_LEARNING: "its look-ahead steps are the template's inner and outer updates"},
    )
    state_key = "lamaml"
    distributed = UNSUPPORTED
    distributed_reason = "its steps move the weights directly, outside DDP's gradient averaging"

    def __init__(
        self,
        n_inner_updates: int = 5,
        second_order: bool = True,
        grad_clip_norm: float = 1.0,
        learn_lr: bool = True,
        lr_alpha: float = 0.25,
        sync_update: bool = False,
        alpha_init: float = 0.1,
        max_buffer_size: int = 200,
        buffer_mb_size: int = 10,
    ):
        self.n_inner_updates = positive_int("n_inner_updates", n_inner_updates)
        self.second_order = boolean("second_order", second_order)
        self.grad_clip_norm = number("grad_clip_norm", grad_clip_norm, low=0, low_open=True)
        self.learn_lr = boolean("learn_lr", learn_lr)
        self.lr_alpha = number("lr_alpha", lr_alpha, low=0)
        self.sync_update = boolean("sync_update", sync_update)
        self.alpha_init = number("alpha_init", alpha_init, low=0)
        self.max_buffer_size = positive_int("max_buffer_size", max_buffer_size)
        self.buffer_mb_size = positive_int("buffer_mb_size", buffer_mb_size)
        self.storage_policy = ReservoirSamplingBuffer(max_buffer_size)
        self.alpha_params: dict[str, Tensor] = {}
        self._meta_losses: list[Tensor] = []

    def inner_updates(self, strategy: Any) -> None:
        weights = _trained(strategy.model)
        alphas = self._alphas_for(weights)
        current = (strategy.mb_x, strategy.mb_y, strategy.mb_task_id)
        self._meta_losses = meta_losses(
            strategy.model,
            strategy.loss_fn,
            weights,
            alphas,
            split_chunks(current, self.n_inner_updates),
            concat(current, self._draw(strategy)) if len(self.storage_policy) else current,
            clip=self.grad_clip_norm,
            second_order=self.second_order,
        )

    def outer_update(self, strategy: Any) -> None:
        weights = _trained(strategy.model)
        params, alphas = list(weights.values()), list(self.alpha_params.values())
        meta_loss = torch.stack(self._meta_losses).mean()
        self._meta_losses = []
        grads = torch.autograd.grad(meta_loss, params + alphas, materialize_grads=True)
        param_grads, alpha_grads = list(grads[: len(params)]), list(grads[len(params) :])
        for tensor, gradient in zip(params + alphas, param_grads + alpha_grads, strict=True):
            tensor.grad = gradient  # clipped in place below; the optimizer reads them
        torch.nn.utils.clip_grad_norm_(params, self.grad_clip_norm)
        with torch.no_grad():
            if self.learn_lr:
                torch.nn.utils.clip_grad_norm_(alphas, self.grad_clip_norm)
                torch._foreach_add_(alphas, alpha_grads, alpha=-self.lr_alpha)
            if self.sync_update:
                strategy.optimizer.step()
            else:
                rates = [F.relu(alpha) for alpha in alphas]
                torch._foreach_addcmul_(params, param_grads, rates, value=-1)
        strategy.loss = meta_loss.detach()

    @hookimpl
    def clhost_after_outer_update(self, strategy: Any) -> None:
        if first_sight(strategy):
            self.storage_policy.add(strategy, TensorData(*strategy.mbatch[:3]))

    def _draw(self, strategy: Any) -> tuple[Tensor, Tensor, Tensor]:
        memory = self.storage_policy.buffer
        drawn = memory.subset(torch.randperm(len(memory))[: self.buffer_mb_size])
        x, y, t = drawn.to(strategy.device).tensors[:3]
        return x, y, t

    def _alphas_for(self, weights: dict[str, Tensor]) -> list[Tensor]:
        """The learning rates of ``weights``, made or grown (new entries at
        ``alpha_init``) where a parameter is new or has grown."""
        for name, param in weights.items():
            alpha = self.alpha_params.get(name)
            if alpha is not None and alpha.shape == param.shape and alpha.device == param.device:
                continue
            grown = torch.full_like(param, self.alpha_init, requires_grad=False)
            if alpha is not None:
                grown[tuple(slice(0, n) for n in alpha.shape)] = alpha.detach()
            self.alpha_params[name] = grown.requires_grad_()
        self.alpha_params = {name: self.alpha_params[name] for name in weights}
        return list(self.alpha_params.values())

    def state_dict(self) -> dict[str, Any]:
        return {
            "storage_policy": self.storage_policy.state_dict(),
            "alpha_params": {name: a.detach().clone() for name, a in self.alpha_params.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        alphas = state.get("alpha_params") if isinstance(state, dict) else None
        if not isinstance(alphas, dict) or "storage_policy" not in state:
            raise CheckpointError("LaMAMLPlugin state needs its storage_policy and alpha_params")
        self.storage_policy.load_state_dict(state["storage_policy"])
        self.alpha_params = {name: a.clone().requires_grad_() for name, a in alphas.items()}


def _trained(model: nn.Module) -> dict[str, Tensor]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}
