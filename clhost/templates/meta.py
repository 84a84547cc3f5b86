"""The meta-learning template: inner (fast) updates, then an outer (meta) update."""

from __future__ import annotations

from clhost.hookspecs import BaseTemplateHooks, MetaLearningHooks, SGDLoopHooks
from clhost.templates.supervised import SupervisedTemplate


class SupervisedMetaLearningTemplate(SupervisedTemplate):
    """The loop of meta-learning CL methods such as LaMAML and MER.

    Each minibatch runs ``inner_updates()`` then ``outer_update()`` between the
    meta-learning hooks; the forward/backward/update hooks of single-step templates are
    not fired, so plugins written for them are rejected at construction. Subclasses
    implement the two steps and set ``self.loss`` for the evaluator.
    """

    HOOK_GROUPS = (BaseTemplateHooks, SGDLoopHooks, MetaLearningHooks)

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
        raise NotImplementedError

    def outer_update(self) -> None:
        """The meta update of the slow weights; must leave ``self.loss`` set."""
        raise NotImplementedError
