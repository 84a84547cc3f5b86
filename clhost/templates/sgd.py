"""BaseSGDTemplate: minibatch training with an optimizer, a criterion and epochs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from clhost import distributed
from clhost._dispatch import plugin_label
from clhost._markers import HOOK_PREFIX
from clhost.data import Experience, experience_data, make_loader
from clhost.errors import CheckpointError
from clhost.hookspecs import BaseTemplateHooks, SGDLoopHooks, SGDUpdateHooks
from clhost.models.optim import refresh_optimizer
from clhost.templates.base import DEFAULT, BaseTemplate
from clhost.templates.finite import FiniteGuard
from clhost.templates.state import load_into
from clhost.validate import positive_int

DISTRIBUTED_STEPS = (
    "train",
    "train_experience",
    "training_epoch",
    "training_forward",
    "forward",
    "backward",
    "optimizer_step",
    "make_train_dataloader",
    "eval_experience",
)
"""The steps of the loop that DDP, sharding and synchronisation are woven into."""


class BaseSGDTemplate(BaseTemplate):
    """One forward, backward and optimizer step per minibatch, ``train_epochs`` per experience.

    ``eval_every`` controls periodic evaluation on the ``eval_streams`` given to
    ``train()``: ``-1`` never, ``0`` after each experience, ``n > 0`` every ``n`` epochs
    or iterations (``peval_mode``).

    Under distributed training (a ``torch.distributed`` process group, ``torchrun``) the
    template's own training forward runs through ``DistributedDataParallel``, rebuilt
    for each experience after the model grows; ``strategy.model`` stays the inner module
    (its state keys, layers and heads as in one process), so a plugin's own forward
    passes are local: their gradients are averaged when their loss joins the template's
    backward, otherwise the plugin averages them (``clhost.distributed``).
    ``train_mb_size`` stays the global minibatch (each rank takes its slice), evaluation
    deals whole minibatches round-robin and the evaluator sums its counts over ranks.
    After each experience rank 0's state of every replicated plugin and its random
    generators are broadcast. Plugins undeclared for it are refused
    (``docs/distributed.md``).
    """

    distributed = distributed.REPLICATED
    distributed_reason: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that replaces a step of the distributed loop without declaring
        ``distributed`` itself is unsupported under DDP, with the reason."""
        super().__init_subclass__(**kwargs)
        replaced = [name for name in DISTRIBUTED_STEPS if name in vars(cls)]
        if replaced and "distributed" not in vars(cls):
            cls.distributed = distributed.UNSUPPORTED
            cls.distributed_reason = (
                f"{cls.__name__} replaces {', '.join(replaced)} without declaring how it "
                "runs across ranks (class attribute distributed)"
            )

    HOOK_GROUPS: tuple[type, ...] = (BaseTemplateHooks, SGDLoopHooks, SGDUpdateHooks)
    LEARNS_BY_GRADIENT: bool = True
    """False for a template that updates its model without gradients (StreamingLDA): its
    constructor passes ``optimizer=None`` up and it has no optimizer state to refresh,
    save or load."""
    LOOP_STATE = (
        *BaseTemplate.LOOP_STATE,
        "adapted_dataset",
        "dataloader",
        "mbatch",
        "mb_output",
        "loss",
    )

    def __init__(
        self,
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        criterion: Callable[..., Tensor] | None = None,
        train_mb_size: int = 32,
        train_epochs: int = 1,
        eval_mb_size: int | None = None,
        device: str | torch.device | None = None,
        plugins: Sequence[object] = (),
        evaluator: Any = DEFAULT,
        eval_every: int = -1,
        peval_mode: Literal["epoch", "iteration"] = "epoch",
        num_workers: int = 0,
    ):
        positive_int("train_mb_size", train_mb_size)
        positive_int("train_epochs", train_epochs)
        if eval_mb_size is not None:
            positive_int("eval_mb_size", eval_mb_size)
        if peval_mode not in ("epoch", "iteration"):
            raise ValueError(f"peval_mode must be 'epoch' or 'iteration', got {peval_mode!r}")
        if not self.LEARNS_BY_GRADIENT:
            if optimizer is not None:
                raise TypeError(f"{type(self).__name__} learns without gradients: no optimizer")
        elif not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        self.optimizer: torch.optim.Optimizer | None = optimizer
        self._criterion = criterion if criterion is not None else nn.CrossEntropyLoss()
        self.train_mb_size, self.train_epochs = train_mb_size, train_epochs
        self.eval_mb_size = eval_mb_size or train_mb_size
        self.eval_every, self.peval_mode, self.num_workers = eval_every, peval_mode, num_workers
        self.adapted_dataset: Any = None
        self.dataloader: Any = None
        self.mbatch: tuple[Tensor, ...] = ()
        self.mb_output: Any = None
        self.loss: Tensor = torch.zeros(())
        self.loss_terms: dict[str, Tensor] = {}
        self._stop_requested = False
        self._params_before_adaptation: dict[str, nn.Parameter] = {}
        self._ddp: DistributedDataParallel | None = None
        self._forward_module: nn.Module | None = None
        super().__init__(model=model, device=device, plugins=plugins, evaluator=evaluator)
        distributed.check_supported(
            [(f"strategy {type(self).__name__}", self)]
            + [(plugin_label(plugin), plugin) for plugin in self.all_plugins]
        )
        self._finite_guard = FiniteGuard(deferred=self.device.type != "cpu")

    @property
    def forward_module(self) -> nn.Module:
        """What ``forward`` calls: the DDP wrapper during the template's own training
        forward under distributed training, ``model`` otherwise."""
        return self.model if self._forward_module is None else self._forward_module

    def extra_plugins(self) -> list[object]:
        criterion = self._criterion
        has_hooks = any(name.startswith(HOOK_PREFIX) for name in dir(type(criterion)))
        return [criterion] if has_hooks else []

    @property
    def loss_fn(self) -> Callable[..., Tensor]:
        """The criterion given at construction; ``criterion()`` applies it to the current
        minibatch. Plugins read it here (e.g. to compute a loss on their own batches)."""
        return self._criterion

    def owned_components(self) -> list[object]:
        return [self._criterion]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.optimizer is not None:
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        if self.optimizer is None:
            if state.get("optimizer") is not None:
                raise CheckpointError("the saved state has an optimizer but the strategy has none")
            return
        if state.get("optimizer") is None:
            raise CheckpointError("the saved state has no optimizer but the strategy has one")
        load_into(self.optimizer, state["optimizer"], "optimizer")

    def regrow(self, experience: Experience) -> None:
        super().regrow(experience)
        self.make_optimizer()

    def components(self) -> list[tuple[str, object]]:
        criterion = self._criterion
        others = super().components()
        if any(component is criterion for _, component in others):
            return others
        return [*others, (f"criterion {type(criterion).__name__}", criterion)]

    def stop_training(self) -> None:
        """Stop after the current iteration; the experience ends as if its epochs were done."""
        self._stop_requested = True

    # -- one experience ---------------------------------------------------------------

    def train_experience(self, experience: Experience) -> None:
        self._fire(self.hooks.before_train_dataset_adaptation)
        self.adapted_dataset = self.train_dataset_adaptation(experience)
        self._fire(self.hooks.after_train_dataset_adaptation)
        self.dataloader = self.make_train_dataloader()
        self.model_adaptation(experience)
        self.make_optimizer()
        self._stop_requested = False
        self._fire(self.hooks.before_training_exp)
        # after the plugins froze or reset parameters (CWR*, from-scratch): DDP averages
        # the parameters trained in this experience, starting from rank 0's values
        self._ddp = _wrap_for_ranks(self.model, self.device)
        for _ in range(self.train_epochs):
            if self._stop_requested:
                break
            self._fire(self.hooks.before_training_epoch)
            if self._stop_requested:  # e.g. early stopping on the last epoch's evaluation
                break
            self.training_epoch()
            self._fire(self.hooks.after_training_epoch)
            self.clock.tick_epoch()
            self._periodic_eval("epoch", self.clock.train_exp_epochs)
        self._finite_guard.check_weights(self)
        self._fire(self.hooks.after_training_exp)
        distributed.synchronise(self._state_order())
        if self.eval_every == 0:
            self._eval_streams()

    def train_dataset_adaptation(self, experience: Experience) -> Any:
        """The dataset trained on; plugins may replace it after this."""
        return experience_data(experience)

    def make_train_dataloader(self) -> Any:
        """A plugin's dataloader (``clhost_train_dataloader``) or shuffled minibatches."""
        for build in self.hooks.train_dataloader:
            loader = build(self)
            if loader is not None:
                return loader
        return make_loader(
            self.adapted_dataset,
            self.train_mb_size,
            shuffle=True,
            num_workers=self.num_workers,
        )

    def model_adaptation(self, experience: Experience) -> None:
        self._params_before_adaptation = dict(self.model.named_parameters())
        super().model_adaptation(experience)
        self.model.to(self.device)

    def make_optimizer(self) -> None:
        """Point the optimizer at parameters the adaptation replaced or added, keeping the
        state of every parameter that did not change."""
        if self.optimizer is not None:
            refresh_optimizer(self.optimizer, self._params_before_adaptation, self.model)

    def training_epoch(self) -> None:
        """One pass over the dataloader; a non-finite loss raises ``NonFiniteError``
        (``FiniteGuard`` says when it is detected on each device)."""
        hooks, guard, optimizer = self.hooks, self._finite_guard, self.optimizer
        assert optimizer is not None, "a template learning by gradient has an optimizer"
        guard.start_epoch()
        for batch in self.dataloader:
            if self._stop_requested:
                break
            self.mbatch = self._to_device(batch)
            self._fire(hooks.before_training_iteration)
            optimizer.zero_grad(set_to_none=True)
            self._fire(hooks.before_forward)
            self.mb_output = self.training_forward()
            self._fire(hooks.after_forward)
            self.loss = self.criterion()
            if hooks.loss_terms:
                self._add_loss_terms()
            self._fire(hooks.before_backward)
            guard.watch(self)
            self.backward()
            self._fire(hooks.after_backward)
            self._fire(hooks.before_update)
            self.optimizer_step()
            self._fire(hooks.after_update)
            self._fire(hooks.after_training_iteration)
            self.clock.tick_iteration()
            self._periodic_eval("iteration", self.clock.train_exp_iterations)
        guard.end_epoch(self)

    def _add_loss_terms(self) -> None:
        self.loss_terms = {}
        for call in self.hooks.loss_terms:
            result = call(self)
            if result is None:
                continue
            pairs = [result] if isinstance(result, tuple) else result
            for name, term in pairs:
                self.loss_terms[name] = term
                self.loss = self.loss + term

    # -- steps that strategies override -----------------------------------------------

    def forward(self) -> Any:
        raise NotImplementedError

    def training_forward(self) -> Any:
        """``forward`` for the training loop's minibatch, through DDP when it wraps the
        model (so that backward averages the gradients over ranks)."""
        if self._ddp is None:
            return self.forward()
        self._forward_module = self._ddp
        try:
            return self.forward()
        finally:
            self._forward_module = None

    def criterion(self) -> Tensor:
        raise NotImplementedError

    def backward(self) -> None:
        self.loss.backward()

    def optimizer_step(self) -> None:
        assert self.optimizer is not None, "a template learning by gradient has an optimizer"
        self.optimizer.step()

    # -- evaluation -------------------------------------------------------------------

    def eval_experience(self, experience: Experience) -> None:
        self._fire(self.hooks.before_eval_dataset_adaptation)
        self.adapted_dataset = experience_data(experience)
        self._fire(self.hooks.after_eval_dataset_adaptation)
        self.dataloader = make_loader(
            self.adapted_dataset,
            self.eval_mb_size,
            shuffle=False,
            num_workers=self.num_workers,
            shard=True,
        )
        hooks = self.hooks
        self._fire(hooks.before_eval_exp)
        for batch in self.dataloader:
            self.mbatch = self._to_device(batch)
            self._fire(hooks.before_eval_iteration)
            self._fire(hooks.before_eval_forward)
            self.mb_output = self.forward()
            self._fire(hooks.after_eval_forward)
            self.loss = self.criterion()
            self._fire(hooks.after_eval_iteration)
        self._fire(hooks.after_eval_exp)

    def _periodic_eval(self, unit: str, count: int) -> None:
        if self.eval_every > 0 and self.peval_mode == unit and count % self.eval_every == 0:
            self._eval_streams()

    def _eval_streams(self) -> None:
        for stream in getattr(self, "eval_streams", ()):
            self.eval(stream)

    def _to_device(self, batch: Sequence[Any]) -> tuple[Any, ...]:
        device = self.device
        return tuple(
            item.to(device, non_blocking=True) if isinstance(item, Tensor) else item
            for item in batch
        )


def _wrap_for_ranks(model: nn.Module, device: torch.device) -> DistributedDataParallel | None:
    """``model`` in DDP under distributed training (parameters broadcast from rank 0);
    unused parameters are searched for only where a multi-task model may leave heads
    idle. ``None`` in one process or with nothing to train."""
    if not distributed.is_distributed() or not any(p.requires_grad for p in model.parameters()):
        return None
    from clhost.models.dynamic import MultiTaskModule

    return DistributedDataParallel(
        model,
        device_ids=[device] if device.type == "cuda" else None,
        find_unused_parameters=any(isinstance(m, MultiTaskModule) for m in model.modules()),
    )
