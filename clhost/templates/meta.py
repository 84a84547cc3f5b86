"""The meta-learning templates: inner (fast) updates, then an outer (meta) update.

A meta-learning method is written once, as a plugin with ``inner_updates(strategy)`` and
``outer_update(strategy)`` methods (a ``MetaLearner``); both templates call the one
among their plugins, so the same method trains experience by experience
(``SupervisedMetaLearningTemplate``) or online (``OnlineMetaLearningTemplate``).
Subclasses may instead override ``inner_updates``/``outer_update`` themselves.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Protocol, runtime_checkable

from clhost.capabilities import META_LEARNING, Capabilities
from clhost.distributed import UNSUPPORTED
from clhost.errors import PluginCompositionError
from clhost.hookspecs import BaseTemplateHooks, MetaLearningHooks, SGDLoopHooks
from clhost.templates.online import OnlineSupervisedTemplate
from clhost.templates.supervised import SupervisedTemplate


@runtime_checkable
class MetaLearner(Protocol):
    """A plugin doing a meta-learning template's two steps on the current minibatch."""

    def inner_updates(self, strategy: Any) -> None: ...

    def outer_update(self, strategy: Any) -> None: ...


class SupervisedMetaLearningTemplate(SupervisedTemplate):
    """The loop of meta-learning CL methods such as LaMAML and MER.

    Each minibatch runs ``inner_updates()`` then ``outer_update()`` between the
    meta-learning hooks; the forward/backward/update hooks of single-step templates are
    not fired, so plugins written for them are rejected at construction. The two steps
    are those of the plugin that is a ``MetaLearner`` (at most one may be), unless a
    subclass overrides them; the outer update leaves ``self.loss`` set for the evaluator.
    """

    distributed = UNSUPPORTED
    distributed_reason = (
        "inner and outer updates run outside DistributedDataParallel, so their gradients "
        "would not be averaged over ranks"
    )

    HOOK_GROUPS = (BaseTemplateHooks, SGDLoopHooks, MetaLearningHooks)
    capabilities = Capabilities(provides={META_LEARNING})

    def training_epoch(self) -> None:
        hooks, guard, optimizer = self.hooks, self._finite_guard, self.optimizer
        assert optimizer is not None, "a template learning by gradient has an optimizer"
        guard.start_epoch()
        for batch in self.dataloader:
            if self._stop_requested:
                break
            self.mbatch = self._to_device(batch)
            self._fire(hooks.before_training_iteration)
            optimizer.zero_grad(set_to_none=True)
            self._fire(hooks.before_inner_updates)
            self.inner_updates()
            self._fire(hooks.after_inner_updates)
            self._fire(hooks.before_outer_update)
            self.outer_update()
            guard.watch(self)
            self._fire(hooks.after_outer_update)
            self.mb_output = self.forward()
            self._fire(hooks.after_training_iteration)
            self.clock.tick_iteration()
            self._periodic_eval("iteration", self.clock.train_exp_iterations)
        guard.end_epoch(self)

    def inner_updates(self) -> None:
        """Fast-weight updates on the current minibatch."""
        self.meta_learner.inner_updates(self)

    def outer_update(self) -> None:
        """The meta update of the slow weights; must leave ``self.loss`` set."""
        self.meta_learner.outer_update(self)

    @cached_property
    def meta_learner(self) -> MetaLearner:
        """The plugin that does the two steps (``MetaLearner``)."""
        learners = [plugin for plugin in self.plugins if isinstance(plugin, MetaLearner)]
        if len(learners) != 1:
            names = ", ".join(type(learner).__name__ for learner in learners) or "none"
            raise PluginCompositionError(
                f"{type(self).__name__} needs exactly one plugin with inner_updates and "
                f"outer_update (a MetaLearner, e.g. MERPlugin) or a subclass defining them; "
                f"found {names}"
            )
        return learners[0]


class OnlineMetaLearningTemplate(OnlineSupervisedTemplate, SupervisedMetaLearningTemplate):
    """``OnlineSupervisedTemplate``'s single pass over mini-experiences, each minibatch
    trained by the meta-learning loop (inner updates, then the outer update)."""

    distributed = SupervisedMetaLearningTemplate.distributed  # not the online loop's
    distributed_reason = SupervisedMetaLearningTemplate.distributed_reason
