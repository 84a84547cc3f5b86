"""BaseTemplate: the outer loops over experiences, shared by every strategy."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from clhost._dispatch import HookDispatcher, plugin_label
from clhost._keywords import check_keywords
from clhost.capabilities import check_composition
from clhost.data import Experience
from clhost.evaluation.results import EvalResult
from clhost.hookspecs import BaseTemplateHooks
from clhost.models.dynamic import adapt_model
from clhost.templates.clock import Clock

DEFAULT = "default"


@dataclass
class TrainResult:
    """What one call to ``train()`` did, with the evaluator's training metrics."""

    experiences: list[int]
    epochs: int
    iterations: int
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)


class BaseTemplate:
    """Trains a model on experiences one after the other and evaluates it on streams.

    Subclasses define how one experience is trained and evaluated; this class owns the
    plugins, the hooks common to all templates and the clock. ``evaluator`` is the
    default for the hooks this template fires (``clhost.evaluation.evaluator_for``)
    unless another (or ``None``, for no metrics) is given.
    """

    HOOK_GROUPS: tuple[type, ...] = (BaseTemplateHooks,)

    def __new__(cls, *args: Any, **kwargs: Any) -> BaseTemplate:
        check_keywords(cls, args, kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        *,
        model: nn.Module,
        device: str | torch.device | None = None,
        plugins: Sequence[object] = (),
        evaluator: Any = DEFAULT,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.model = model.to(self.device)
        self.plugins = list(plugins)
        self.evaluator = _default_evaluator(self.HOOK_GROUPS) if evaluator == DEFAULT else evaluator
        self.clock = Clock()
        self.experience: Experience | None = None
        self.is_training = False
        self.hooks = HookDispatcher(type(self).__name__, self.HOOK_GROUPS, self.all_plugins)
        check_composition(self.components())

    @property
    def all_plugins(self) -> list[object]:
        """Every registered plugin in call order: the user's, then evaluator and clock."""
        internal = [self.evaluator] if self.evaluator is not None else []
        return [*self.plugins, *self.extra_plugins(), *internal, self.clock]

    def extra_plugins(self) -> list[object]:
        """Components given as arguments that also implement hooks (e.g. a criterion)."""
        return []

    def components(self) -> list[tuple[str, object]]:
        """Everything composed into this strategy, labelled, for the declared composition
        rules (``clhost.capabilities``): itself, its plugins and its model's modules."""
        return [
            (f"strategy {type(self).__name__}", self),
            *((plugin_label(plugin), plugin) for plugin in self.all_plugins),
            *((f"model {type(module).__name__}", module) for module in self.model.modules()),
        ]

    def train(
        self,
        experiences: Experience | Iterable[Experience],
        eval_streams: Sequence[Any] | None = None,
    ) -> TrainResult:
        """Train on each experience in order; ``eval_streams`` serve periodic evaluation."""
        experiences = [experiences] if isinstance(experiences, Experience) else list(experiences)
        self.eval_streams = [_as_experience_list(s) for s in eval_streams or ()]
        start, epochs, iterations = (
            time.perf_counter(),
            self.clock.train_epochs,
            self.clock.train_iterations,
        )
        self.is_training = True
        self.model.train()
        self._fire(self.hooks.before_training)
        for experience in experiences:
            self.experience = experience
            self.train_experience(experience)
        self._fire(self.hooks.after_training)
        self.is_training = False
        metrics = self.evaluator.train_metrics() if self.evaluator is not None else {}
        return TrainResult(
            experiences=[e.current_experience for e in experiences],
            epochs=self.clock.train_epochs - epochs,
            iterations=self.clock.train_iterations - iterations,
            seconds=time.perf_counter() - start,
            metrics=metrics,
        )

    def train_experience(self, experience: Experience) -> None:
        """Train on one experience, firing ``before_training_exp``/``after_training_exp``."""
        raise NotImplementedError

    def model_adaptation(self, experience: Experience) -> None:
        """Grow the model's dynamic modules (heads, classifiers) for ``experience``."""
        adapt_model(self.model, experience)

    @torch.no_grad()
    def eval(self, experiences: Experience | Iterable[Experience]) -> EvalResult:
        """Evaluate on each experience; returns the evaluator's result for them.

        Training state (current experience, dataloader, minibatch) is saved and restored,
        so periodic evaluation in the middle of an experience changes nothing.
        """
        experiences = _as_experience_list(experiences)
        saved, was_training = self._save_loop_state(), self.model.training
        self.is_training = False
        self.model.eval()
        self._fire(self.hooks.before_eval)
        for experience in experiences:
            self.experience = experience
            self.eval_experience(experience)
        self._fire(self.hooks.after_eval)
        self.model.train(was_training)
        self._restore_loop_state(saved)
        if self.evaluator is None:
            return EvalResult.empty(experiences)
        return self.evaluator.last_eval_result()

    def eval_experience(self, experience: Experience) -> None:
        """Evaluate on one experience, firing ``before_eval_exp``/``after_eval_exp``."""
        raise NotImplementedError

    LOOP_STATE: tuple[str, ...] = ("experience", "is_training")

    def _save_loop_state(self) -> dict[str, Any]:
        return {name: getattr(self, name, None) for name in self.LOOP_STATE}

    def _restore_loop_state(self, saved: dict[str, Any]) -> None:
        for name, value in saved.items():
            setattr(self, name, value)

    def _fire(self, calls: tuple) -> None:
        for call in calls:
            call(self)


def _as_experience_list(stream: Any) -> list[Experience]:
    if isinstance(stream, Experience):
        return [stream]
    experiences = list(stream)
    for item in experiences:
        if not isinstance(item, Experience):
            raise TypeError(f"expected experiences, got {type(item).__name__}")
    return experiences


def _default_evaluator(groups: Sequence[type]) -> Any:
    from clhost.evaluation import evaluator_for

    return evaluator_for(groups)
