"""Templates for strategies that build their model from their own keywords (a frozen
backbone and a classifier, a prompted ViT): the keywords they take besides their own,
stated once, and the loop of those that fit their model instead of stepping an
optimizer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from clhost.distributed import UNSUPPORTED
from clhost.hookspecs import BaseTemplateHooks, SGDLoopHooks
from clhost.templates.base import DEFAULT
from clhost.templates.supervised import SupervisedTemplate


class BuiltModelTemplate(SupervisedTemplate):
    """``SupervisedTemplate`` whose ``model`` and ``optimizer`` the strategy builds and
    passes positionally, so that neither is a keyword: its constructor takes the
    template's other keywords (``**template`` in the strategy's ``__init__``), and
    ``clhost info`` shows them after the strategy's own."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        /,
        *,
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
        super().__init__(
            model=model,
            optimizer=optimizer,  # type: ignore[arg-type]  # None: LEARNS_BY_GRADIENT is False
            criterion=criterion,
            train_mb_size=train_mb_size,
            train_epochs=train_epochs,
            eval_mb_size=eval_mb_size,
            device=device,
            plugins=plugins,
            evaluator=evaluator,
            eval_every=eval_every,
            peval_mode=peval_mode,
            num_workers=num_workers,
        )


class FittingTemplate(BuiltModelTemplate):
    """A built model that learns without gradients (no optimizer; the optimizer hooks are
    never fired): each minibatch is scored (``training_scores``, for the training
    metrics and ``criterion``, which only measures the loss), then fitted (``fit``), so
    the training metrics are those of samples not yet learned. Under DDP each rank would
    fit only its share of the minibatches: a subclass that merges what it fitted over
    ranks declares ``distributed`` itself."""

    HOOK_GROUPS = (BaseTemplateHooks, SGDLoopHooks)
    LEARNS_BY_GRADIENT = False
    distributed = UNSUPPORTED
    distributed_reason = "each rank would fit only its share of the minibatches"

    def training_epoch(self) -> None:
        hooks = self.hooks
        for batch in self.dataloader:
            if self._stop_requested:
                break
            self.mbatch = self._to_device(batch)
            self._fire(hooks.before_training_iteration)
            features = self.minibatch_features()
            self.mb_output = self.training_scores(features)
            self.loss = self.criterion()
            self.fit(features, self.mb_y)
            self._fire(hooks.after_training_iteration)
            self.clock.tick_iteration()
            self._periodic_eval("iteration", self.clock.train_exp_iterations)

    def minibatch_features(self) -> Tensor:
        """What the model fits and scores, for the current minibatch."""
        raise NotImplementedError

    def training_scores(self, features: Tensor) -> Tensor:
        raise NotImplementedError

    def fit(self, features: Tensor, targets: Tensor) -> None:
        raise NotImplementedError
