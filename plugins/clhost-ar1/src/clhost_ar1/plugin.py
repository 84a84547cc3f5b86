"""AR1* as a plugin: CWR* on the classifier, latent replay at a layer, frozen layers
below it and batch renormalization settings per experience."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from clhost import distributed, hookimpl, validate
from clhost.data import TensorData, make_loader
from clhost.errors import CheckpointError, ParameterError
from clhost.models.batch_renorm import set_renorm
from clhost.models.freeze import freeze_below
from clhost.models.latent import LatentReplayModel
from clhost.models.layers import named_layer
from clhost.rehearsal import experience_tensors
from clhost_cwr_star import CWRStarPlugin

UPPER = "upper"  # LatentReplayModel's part above the latent layer


class AR1Plugin(CWRStarPlugin):
    """AR1* with latent replay (Pellegrini et al., 2020) on a ``LatentReplayModel``.

    - **CWR\\*** on the classifier (``CWRStarPlugin`` without freezing); the classes and
      counts it consolidates include the replayed samples'.
    - **Latent replay**: after each experience, ``h = rm_sz // (i + 1)`` of its samples
      (``i`` experiences trained before) are chosen at random and their activations at the
      latent layer, computed by the final lower layers in eval mode, are stored. Free
      slots are filled first, then random stored patterns are replaced (the paper's rule
      once the memory is full). In later experiences every minibatch takes
      ``m = n // ((n + R) // train_mb_size)`` current samples (``n`` of them, ``R``
      stored) so that an epoch over the experience also goes once over the memory, in a
      new random order each epoch; the other ``train_mb_size - m`` are stored
      activations (going round the memory again if it runs out), which join the batch at
      the latent layer (the outputs and targets of the minibatch then have more rows than
      its inputs).
    - **Freezing**: from the second experience on, every layer registered before
      ``freeze_below_layer`` (a name in the model; default ``"upper"``: exactly the layers
      below the latent layer) is frozen, batch-norm statistics included.
    - **Batch renormalization**: during the first experience ``momentum`` is
      ``init_update_rate`` and ``r_max``/``d_max`` grow by ``inc_step`` per iteration up to
      ``max_r_max``/``max_d_max``; afterwards ``momentum`` is ``inc_update_rate`` and they
      stay at their maxima.
    - **Learning rate**: from the second experience on, every parameter group of the
      optimizer gets ``inc_lr`` and its state (momentum) is cleared, as when the paper
      builds a new optimizer.
    - **Across ranks** (DDP): each rank takes its part of every minibatch's stored
      activations, in the order rank 0 drew; the memory is rank 0's.
    """

    state_key = "ar1"
    distributed = "replicated"  # rank 0's latent memory, broadcast after each experience

    def __init__(
        self,
        model: nn.Module,
        cwr_layer_name: str | None = None,
        rm_sz: int = 1500,
        inc_lr: float = 5e-5,
        init_update_rate: float = 0.01,
        inc_update_rate: float = 5e-5,
        max_r_max: float = 1.25,
        max_d_max: float = 0.5,
        inc_step: float = 4.1e-05,
        freeze_below_layer: str | None = None,
    ):
        if not isinstance(model, LatentReplayModel):
            raise ParameterError(
                f"AR1Plugin needs a LatentReplayModel (clhost_ar1.ar1_model builds one), "
                f"got {type(model).__name__}"
            )
        super().__init__(model, cwr_layer_name, freeze_remaining_model=False)
        self.rm_sz = validate.non_negative_int("rm_sz", rm_sz)
        self.inc_lr = validate.number("inc_lr", inc_lr, low=0.0)
        self.init_update_rate = validate.number(
            "init_update_rate", init_update_rate, low=0.0, high=1.0
        )
        self.inc_update_rate = validate.number(
            "inc_update_rate", inc_update_rate, low=0.0, high=1.0
        )
        self.max_r_max = validate.number("max_r_max", max_r_max, low=1.0)
        self.max_d_max = validate.number("max_d_max", max_d_max, low=0.0)
        self.inc_step = validate.number("inc_step", inc_step, low=0.0)
        self.freeze_below_layer = freeze_below_layer or UPPER
        _check_freeze_layer(model, self.freeze_below_layer)
        self.memory_x = torch.empty(0)
        self.memory_y = torch.empty(0, dtype=torch.long)
        self.replay_mb_size = 0
        self._order = torch.empty(0, dtype=torch.long)
        self._iteration = 0

    def class_counts(self, strategy: Any) -> Tensor:
        counts = super().class_counts(strategy)
        replayed = torch.bincount(self.memory_y).double()
        size = max(len(counts), len(replayed))
        return _pad(counts, size) + _pad(replayed, size)

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        model = strategy.model
        if strategy.clock.train_exp_counter == 0:
            set_renorm(model, momentum=self.init_update_rate, r_d_max_inc_step=self.inc_step)
        else:
            freeze_below(model, self.freeze_below_layer)
            set_renorm(
                model,
                momentum=self.inc_update_rate,
                r_max=self.max_r_max,
                d_max=self.max_d_max,
                r_d_max_inc_step=0.0,
            )
            for group in strategy.optimizer.param_groups:
                group["lr"] = self.inc_lr
            strategy.optimizer.state.clear()
        set_renorm(model, max_r_max=self.max_r_max, max_d_max=self.max_d_max)
        super().clhost_before_training_exp(strategy)

    @hookimpl
    def clhost_train_dataloader(self, strategy: Any) -> Any:
        stored = len(self.memory_y)
        if not stored:
            self.replay_mb_size = 0
            return None
        size, batch = len(strategy.adapted_dataset), strategy.train_mb_size
        current = max(1, size // max(1, (size + stored) // batch))
        self.replay_mb_size = max(0, batch - current)
        return make_loader(
            strategy.adapted_dataset, current, shuffle=True, num_workers=strategy.num_workers
        )

    @hookimpl
    def clhost_before_training_epoch(self, strategy: Any) -> None:
        self._order = distributed.broadcast_tensor(torch.randperm(len(self.memory_y)))
        self._iteration = 0

    @hookimpl
    def clhost_before_forward(self, strategy: Any) -> None:
        if not self.replay_mb_size:
            return
        size = self.replay_mb_size
        drawn = self._order[(self._iteration * size + torch.arange(size)) % len(self._order)]
        picked = distributed.rank_part(drawn)
        self._iteration += 1
        device = strategy.device
        strategy.model.replayed = self.memory_x[picked].to(device, non_blocking=True)
        x, y, t, *extras = strategy.mbatch
        labels = self.memory_y[picked].to(device, non_blocking=True)
        strategy.mbatch = (
            x,
            torch.cat((y, labels)),
            torch.cat((t, torch.zeros_like(labels))),
            *extras,
        )

    @hookimpl
    def clhost_after_forward(self, strategy: Any) -> None:
        strategy.model.replayed = None

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        self._store_latents(strategy)
        super().clhost_after_training_exp(strategy)

    def _store_latents(self, strategy: Any) -> None:
        data = experience_tensors(strategy.experience)
        count = min(self.rm_sz // (strategy.clock.train_exp_counter + 1), len(data))
        chosen = torch.randperm(len(data))[:count]
        latents = _latents(strategy.model, data.subset(chosen), strategy)
        labels = data.y[chosen].cpu()
        held = len(self.memory_y)
        free = min(self.rm_sz - held, count)
        if held:
            self.memory_x = torch.cat((self.memory_x, latents[:free]))
        else:
            self.memory_x = latents[:free]
        self.memory_y = torch.cat((self.memory_y, labels[:free]))
        replace = torch.randperm(held)[: count - free]  # among the patterns held before
        self.memory_x[replace] = latents[free:]
        self.memory_y[replace] = labels[free:]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "memory_x": self.memory_x, "memory_y": self.memory_y}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        memory_x, memory_y = state.get("memory_x"), state.get("memory_y")
        if not isinstance(memory_x, Tensor) or not isinstance(memory_y, Tensor):
            raise CheckpointError("AR1Plugin state lacks its latent memory")
        if len(memory_x) != len(memory_y):
            raise CheckpointError("AR1Plugin state: latent memory and labels differ in length")
        super().load_state_dict(state)
        self.memory_x, self.memory_y = memory_x.clone(), memory_y.clone()


@torch.no_grad()
def _latents(model: LatentReplayModel, data: TensorData, strategy: Any) -> Tensor:
    """The activations of ``data`` at the latent layer, lower layers in eval mode."""
    was_training = model.lower.training
    model.lower.eval()
    parts = [
        model.lower(batch[0].to(strategy.device)).cpu()
        for batch in make_loader(data, strategy.eval_mb_size, shuffle=False)
    ]
    model.lower.train(was_training)
    return torch.cat(parts)


def _check_freeze_layer(model: nn.Module, name: str) -> None:
    """Freezing must cover every layer below the latent layer: stored activations are
    only valid while those layers do not change."""
    named_layer(model, name)
    if not (name == UPPER or name.startswith(UPPER + ".")):
        raise ParameterError(
            f"freeze_below_layer {name!r} is below the latent layer: the layers between "
            "would change and the stored activations go stale; name a layer in 'upper'"
        )


def _pad(values: Tensor, size: int) -> Tensor:
    return torch.cat((values, values.new_zeros(size - len(values))))
