"""Every training-loop callback, as a pluggy hookspec.

The specs are grouped by the template level that fires them, mirroring Avalanche's
plugin ABCs. A template registers only the groups it fires, so a plugin implementing a
hook its template never calls is rejected when the strategy is built. Each spec is
written once, below, in the order a run fires it, and declares its group: the groups,
the firing order, ``clhost hooks`` and the hook reference (docs/hooks.md) all come from
these declarations.

Every hook receives ``strategy``: the running template. Implementations may accept it or
take no argument at all. Unless a docstring says otherwise a hook returns nothing and
may read any attribute of the strategy; what it may mutate is stated per hook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clhost._markers import hookspec


class BaseTemplateHooks:
    """Fired by every template: the outer train and eval loops over experiences."""


class SGDLoopHooks:
    """Fired by every minibatch-based template: epochs, iterations and evaluation batches."""


class SGDUpdateHooks:
    """Fired by templates that do one forward/backward/update per minibatch."""


class MetaLearningHooks:
    """Fired by the meta-learning template instead of the forward/backward/update hooks."""


HOOK_GROUPS = (BaseTemplateHooks, SGDLoopHooks, SGDUpdateHooks, MetaLearningHooks)
_EXCLUSIVE: set[str] = set()


def _spec(
    group: type, *, firstresult: bool = False, exclusive: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the decorated function a hookspec of ``group``; ``exclusive``: at most one
    plugin of a strategy may implement it."""

    def declare(function: Callable[..., Any]) -> Callable[..., Any]:
        setattr(group, function.__name__, hookspec(firstresult=firstresult)(function))
        if exclusive:
            _EXCLUSIVE.add(function.__name__)
        return function

    return declare


class _InFiringOrder:
    """Every hook once, in the order a run fires them: training (the nested loops over
    experiences, epochs and minibatches), then evaluation. A template fires only the
    hooks of its groups; ``clhost info`` lists a plugin's hooks in this order."""

    @_spec(BaseTemplateHooks)
    def clhost_before_training(self, strategy):
        """Once at the start of ``train()``, before the first experience.

        ``strategy.experience`` is not set yet. May mutate plugin state and the model.
        """

    @_spec(SGDLoopHooks)
    def clhost_before_train_dataset_adaptation(self, strategy):
        """Before ``strategy.adapted_dataset`` is built from the experience's dataset."""

    @_spec(SGDLoopHooks)
    def clhost_after_train_dataset_adaptation(self, strategy):
        """After ``strategy.adapted_dataset`` is set. May replace it, e.g. to concatenate
        stored exemplars (Cumulative, GDumb)."""

    @_spec(SGDLoopHooks, firstresult=True, exclusive=True)
    def clhost_train_dataloader(self, strategy):
        """Build the train dataloader for ``strategy.adapted_dataset`` (exclusive slot).

        Return an iterable of minibatches ``(x, y, t, *extras)``, or ``None`` to keep the
        default. At most one plugin of a strategy may implement it: two plugins that both
        replace the dataloader cannot both be right, and the strategy refuses to build.
        """

    @_spec(BaseTemplateHooks)
    def clhost_before_training_exp(self, strategy):
        """Before the epochs of one experience, after the model was adapted and the
        optimizer refreshed. ``strategy.experience`` and ``strategy.dataloader`` are set.
        May replace ``strategy.dataloader`` or the optimizer's parameter groups.
        """

    @_spec(SGDLoopHooks)
    def clhost_before_training_epoch(self, strategy):
        """At the start of each epoch."""

    @_spec(SGDLoopHooks)
    def clhost_before_training_iteration(self, strategy):
        """After the minibatch is unpacked into ``strategy.mbatch``, before the gradients
        are zeroed. May replace ``strategy.mbatch``."""

    @_spec(SGDUpdateHooks)
    def clhost_before_forward(self, strategy):
        """Right before ``strategy.mb_output = strategy.forward()``."""

    @_spec(SGDUpdateHooks)
    def clhost_after_forward(self, strategy):
        """After the forward pass; ``strategy.mb_output`` is set and may be replaced."""

    @_spec(SGDUpdateHooks)
    def clhost_loss_terms(self, strategy):
        """Extra terms of the training loss for this minibatch.

        Fired after the criterion, before ``clhost_before_backward``. Return ``None``, one
        ``(name, tensor)`` pair or a list of them; every term is added to the loss and
        recorded in ``strategy.loss_terms[name]`` so it can be logged.
        """

    @_spec(SGDUpdateHooks)
    def clhost_before_backward(self, strategy):
        """Before ``strategy.loss.backward()``; may still add to ``strategy.loss``."""

    @_spec(SGDUpdateHooks)
    def clhost_after_backward(self, strategy):
        """After the backward pass; gradients may be read and changed (projections)."""

    @_spec(SGDUpdateHooks)
    def clhost_before_update(self, strategy):
        """Right before ``optimizer.step()``."""

    @_spec(SGDUpdateHooks)
    def clhost_after_update(self, strategy):
        """Right after ``optimizer.step()``."""

    @_spec(MetaLearningHooks)
    def clhost_before_inner_updates(self, strategy):
        """Before the inner (fast-weight) updates of one minibatch."""

    @_spec(MetaLearningHooks)
    def clhost_after_inner_updates(self, strategy):
        """After the inner updates of one minibatch."""

    @_spec(MetaLearningHooks)
    def clhost_before_outer_update(self, strategy):
        """Before the outer (meta) update of one minibatch."""

    @_spec(MetaLearningHooks)
    def clhost_after_outer_update(self, strategy):
        """After the outer update of one minibatch."""

    @_spec(SGDLoopHooks)
    def clhost_after_training_iteration(self, strategy):
        """After the optimizer step of one minibatch."""

    @_spec(SGDLoopHooks)
    def clhost_after_training_epoch(self, strategy):
        """At the end of each epoch. May call ``strategy.stop_training()``."""

    @_spec(BaseTemplateHooks)
    def clhost_after_training_exp(self, strategy):
        """After the last epoch of one experience. The place to update memories,
        importances or stored copies of the model."""

    @_spec(BaseTemplateHooks)
    def clhost_after_training(self, strategy):
        """Once at the end of ``train()``."""

    @_spec(BaseTemplateHooks)
    def clhost_before_eval(self, strategy):
        """At the start of ``eval()``; the model is already in eval mode."""

    @_spec(SGDLoopHooks)
    def clhost_before_eval_dataset_adaptation(self, strategy):
        """Before the evaluation dataset of an experience is prepared."""

    @_spec(SGDLoopHooks)
    def clhost_after_eval_dataset_adaptation(self, strategy):
        """After ``strategy.adapted_dataset`` is set for evaluation. May replace it."""

    @_spec(BaseTemplateHooks)
    def clhost_before_eval_exp(self, strategy):
        """Before evaluating one experience; ``strategy.experience`` is the experience
        evaluated and ``strategy.dataloader`` yields its batches."""

    @_spec(SGDLoopHooks)
    def clhost_before_eval_iteration(self, strategy):
        """Before the forward pass of one evaluation minibatch (``strategy.mbatch``)."""

    @_spec(SGDLoopHooks)
    def clhost_before_eval_forward(self, strategy):
        """Right before the evaluation forward pass."""

    @_spec(SGDLoopHooks)
    def clhost_after_eval_forward(self, strategy):
        """After the evaluation forward pass; may replace ``strategy.mb_output`` (e.g. an
        NCM classifier's scores)."""

    @_spec(SGDLoopHooks)
    def clhost_after_eval_iteration(self, strategy):
        """After one evaluation minibatch; ``strategy.loss`` holds its loss."""

    @_spec(BaseTemplateHooks)
    def clhost_after_eval_exp(self, strategy):
        """After evaluating one experience: metrics for it are complete."""

    @_spec(BaseTemplateHooks)
    def clhost_after_eval(self, strategy):
        """At the end of ``eval()``, before the model returns to train mode."""


def hook_names(*groups: type) -> list[str]:
    """The hook names declared by the given groups (all groups when none is given), each
    group's in firing order."""
    return [
        name
        for group in groups or HOOK_GROUPS
        for name in vars(group)
        if name.startswith("clhost_")
    ]


def hook_traits(name: str) -> str:
    """How the hook reference and ``clhost hooks`` qualify a hook after its name:
    ``" (exclusive, first result)"``, ``" (first result)"`` or nothing. Exclusive: one
    implementation per strategy; first result: the first non-``None`` result wins."""
    options = getattr(getattr(_InFiringOrder, name), "clhost_spec", {})
    traits = ["exclusive"] if name in EXCLUSIVE_HOOKS else []
    traits += ["first result"] if options.get("firstresult") else []
    return f" ({', '.join(traits)})" if traits else ""


FIRING_ORDER = tuple(hook_names(_InFiringOrder))
EXCLUSIVE_HOOKS = frozenset(_EXCLUSIVE)
