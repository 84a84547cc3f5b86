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
from clhost.templates.declared import declare_plugin_strategy
from clhost.templates.state import (
    check_component_keys,
    check_model_state,
    keyed,
    legacy_keys,
    load_into,
    stateful,
    with_current_keys,
)

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

    def __init_subclass__(
        cls,
        plugin: type | None = None,
        keywords: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        """``class EWC(SupervisedTemplate, plugin=EWCPlugin)`` declares a strategy from its
        plugin (``clhost.templates.declared``)."""
        super().__init_subclass__(**kwargs)
        if plugin is not None:
            declare_plugin_strategy(cls, plugin, keywords)

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
        # the declared rules say why a composition cannot work; check them before the
        # hook slots, whose clash would only say that two plugins fill one slot
        check_composition(self.components())
        self.hooks = HookDispatcher(type(self).__name__, self.HOOK_GROUPS, self.all_plugins)

    @property
    def all_plugins(self) -> list[object]:
        """Every registered plugin in call order: the user's, then evaluator and clock."""
        internal = [self.evaluator] if self.evaluator is not None else []
        return [*self.plugins, *self.extra_plugins(), *internal, self.clock]

    def extra_plugins(self) -> list[object]:
        """Components given as arguments that also implement hooks (e.g. a criterion)."""
        return []

    def owned_components(self) -> list[object]:
        """Components the template itself holds besides plugins (e.g. its criterion)."""
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

    # -- state ------------------------------------------------------------------------

    def stateful_components(self) -> dict[str, Any]:
        """Every component that saves state, under its stable key: plugins in call order,
        then what the template owns (its criterion), the evaluator and the clock."""
        return stateful(keyed(self._state_order()))

    def state_dict(self) -> dict[str, Any]:
        """The model's and every stateful component's state (``load_state_dict`` takes it)."""
        return {
            "model": self.model.state_dict(),
            "components": {k: c.state_dict() for k, c in self.stateful_components().items()},
        }

    def load_state_dict(self, state: dict[str, Any], regrow_for: Sequence[Experience] = ()) -> None:
        """Restore what ``state_dict`` returned, into a freshly built strategy.

        A model that grows with the stream is first grown again for ``regrow_for``, the
        experiences trained before the state was taken. Keys of states saved before keys
        were declared are accepted. Raises ``CheckpointError`` (``ModelStateMismatch``
        when the model's tensors do not fit) naming what failed.
        """
        order = self._state_order()
        components = stateful(keyed(order))
        saved = with_current_keys(state["components"], components, legacy_keys(order))
        check_component_keys(saved, components)
        for experience in regrow_for:
            self.regrow(experience)
        check_model_state(self.model, state["model"])
        load_into(self.model, state["model"], "model")
        self._load_extra_state(state)
        for key, component in components.items():
            load_into(component, saved[key], f"component {key!r}")

    def state_keys(self) -> list[str]:
        """The keys of every component (stateful or not), as a checkpoint lists them."""
        return list(keyed(self._state_order()))

    def current_state_keys(self, saved_keys: Sequence[str]) -> list[str]:
        """Component keys read from a saved state, as this strategy names them now."""
        order = self._state_order()
        return list(with_current_keys(dict.fromkeys(saved_keys), keyed(order), legacy_keys(order)))

    def regrow(self, experience: Experience) -> None:
        """Repeat the structural steps training took for ``experience`` (not its updates)."""
        self.model_adaptation(experience)

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Load what a subclass adds to ``state_dict`` (the optimizer)."""

    def _state_order(self) -> list[object]:
        internal = [self.evaluator] if self.evaluator is not None else []
        return [
            *self.plugins,
            *self.extra_plugins(),
            *self.owned_components(),
            *internal,
            self.clock,
        ]

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
