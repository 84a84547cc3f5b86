"""StreamingLDA: the supervised loop with the LDA statistics fitted in place of SGD."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from clhost.hookspecs import BaseTemplateHooks, SGDLoopHooks
from clhost.templates import SupervisedTemplate
from clhost.templates.base import DEFAULT
from clhost.validate import boolean, number, positive_int
from clhost_streaming_lda.model import StreamingLDAClassifier, StreamingLDAModel


class StreamingLDA(SupervisedTemplate):
    """Deep Streaming Linear Discriminant Analysis (Hayes & Kanan, CVPR-W 2020).

    One pass over the stream without backpropagation: ``slda_model`` (cut at its layer
    ``output_layer_name`` if given; the identity if none) is a frozen feature extractor,
    and on its features a ``StreamingLDAClassifier`` keeps a running mean per class and
    one shared covariance (updated as it streams, or fixed with
    ``streaming_update_sigma=False``), shrunk by ``shrinkage_param`` towards the identity
    before it is inverted. ``input_size`` (the feature size) and ``num_classes`` are
    measured from the stream when not given.

    Each minibatch is scored before it is fitted, so the training metrics are those of
    predicting samples not yet learned. The optimizer hooks are never fired (there is no
    forward/backward/update step); ``criterion`` only measures the loss.
    """

    distributed = "unsupported"
    distributed_reason = (
        "it keeps its class means and shared covariance as running averages updated "
        "minibatch by minibatch: each rank would fit only its share (not merged over "
        "ranks yet)"
    )

    HOOK_GROUPS = (BaseTemplateHooks, SGDLoopHooks)
    LEARNS_BY_GRADIENT = False
    default_model = nn.Identity  # clhost run without --model: LDA on the inputs themselves

    def __init__(
        self,
        *,
        slda_model: nn.Module | None = None,
        criterion: Callable[..., Tensor] | None = None,
        input_size: int | None = None,
        num_classes: int | None = None,
        output_layer_name: str | None = None,
        shrinkage_param: float = 1e-4,
        streaming_update_sigma: bool = True,
        train_epochs: int = 1,
        train_mb_size: int = 32,
        eval_mb_size: int | None = None,
        device: str | torch.device | None = None,
        plugins: Sequence[object] = (),
        evaluator: Any = DEFAULT,
        eval_every: int = -1,
        peval_mode: Literal["epoch", "iteration"] = "epoch",
        num_workers: int = 0,
    ):
        classifier = StreamingLDAClassifier(
            input_size=0 if input_size is None else positive_int("input_size", input_size),
            num_classes=0 if num_classes is None else positive_int("num_classes", num_classes),
            shrinkage_param=number("shrinkage_param", shrinkage_param, low=0, high=1),
            streaming_update_sigma=boolean("streaming_update_sigma", streaming_update_sigma),
        )
        slda_model = nn.Identity() if slda_model is None else slda_model
        if not isinstance(slda_model, nn.Module):
            raise TypeError(f"slda_model must be a torch.nn.Module, got {slda_model!r}")
        model = StreamingLDAModel(
            slda_model, classifier, output_layer_name, num_classes is not None
        )
        super().__init__(
            model=model,
            optimizer=None,  # LEARNS_BY_GRADIENT is False: no optimizer
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

    def training_epoch(self) -> None:
        """Score each minibatch (for the training metrics), then fit its features."""
        hooks, model = self.hooks, self.model
        for batch in self.dataloader:
            if self._stop_requested:
                break
            self.mbatch = self._to_device(batch)
            self._fire(hooks.before_training_iteration)
            features = model.features(self.mb_x, self.mb_task_id)
            self.mb_output = model.classifier(features)
            self.loss = self.criterion()
            model.classifier.fit(features, self.mb_y)
            self._fire(hooks.after_training_iteration)
            self.clock.tick_iteration()
            self._periodic_eval("iteration", self.clock.train_exp_iterations)

    def fit_base(self, features: Tensor, targets: Tensor) -> None:
        """Base initialisation (the paper's): the statistics, covariance included, become
        those of ``features`` (already extracted, N x ``input_size``) of ``targets``."""
        self.model.cover(features.shape[1], int(targets.max()) + 1, "the base data")
        self.model.classifier.fit_base(features.to(self.device), targets.to(self.device))
