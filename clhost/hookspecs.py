"""Every training-loop callback, as a pluggy hookspec.

The specs are grouped by the template level that fires them, mirroring Avalanche's
plugin ABCs. A template registers only the groups it fires, so a plugin implementing a
hook its template never calls is rejected when the strategy is built.

Every hook receives ``strategy``: the running template. Implementations may accept it or
take no argument at all. Unless a docstring says otherwise a hook returns nothing and
may read any attribute of the strategy; what it may mutate is stated per hook.
"""

from __future__ import annotations

from clhost._markers import hookspec


class BaseTemplateHooks:
    """Fired by every template: the outer train and eval loops over experiences."""

    @hookspec
    def clhost_before_training(self, strategy):
        """Once at the start of ``train()``, before the first experience.

        ``strategy.experience`` is not set yet. May mutate plugin state and the model.
        """

    @hookspec
    def clhost_before_training_exp(self, strategy):
        """Before the epochs of one experience, after the model was adapted and the
        optimizer refreshed. ``strategy.experience`` and ``strategy.dataloader`` are set.
        May replace ``strategy.dataloader`` or the optimizer's parameter groups.
        """

    @hookspec
    def clhost_after_training_exp(self, strategy):
        """After the last epoch of one experience. The place to update memories,
        importances or stored copies of the model."""

    @hookspec
    def clhost_after_training(self, strategy):
        """Once at the end of ``train()``."""

    @hookspec
    def clhost_before_eval(self, strategy):
        """At the start of ``eval()``; the model is already in eval mode."""

    @hookspec
    def clhost_before_eval_exp(self, strategy):
        """Before evaluating one experience; ``strategy.experience`` is the experience
        evaluated and ``strategy.dataloader`` yields its batches."""

    @hookspec
    def clhost_after_eval_exp(self, strategy):
        """After evaluating one experience: metrics for it are complete."""

    @hookspec
    def clhost_after_eval(self, strategy):
        """At the end of ``eval()``, before the model returns to train mode."""


class SGDLoopHooks:
    """Fired by every minibatch-based template: epochs, iterations and evaluation batches."""

    @hookspec
    def clhost_before_train_dataset_adaptation(self, strategy):
        """Before ``strategy.adapted_dataset`` is built from the experience's dataset."""

    @hookspec
    def clhost_after_train_dataset_adaptation(self, strategy):
        """After ``strategy.adapted_dataset`` is set. May replace it, e.g. to concatenate
        stored exemplars (Cumulative, GDumb)."""

    @hookspec
    def clhost_before_training_epoch(self, strategy):
        """At the start of each epoch."""

    @hookspec
    def clhost_after_training_epoch(self, strategy):
        """At the end of each epoch. May call ``strategy.stop_training()``."""

    @hookspec
    def clhost_before_training_iteration(self, strategy):
        """After the minibatch is unpacked into ``strategy.mbatch``, before the gradients
        are zeroed. May replace ``strategy.mbatch``."""

    @hookspec
    def clhost_after_training_iteration(self, strategy):
        """After the optimizer step of one minibatch."""

    @hookspec
    def clhost_before_eval_dataset_adaptation(self, strategy):
        """Before the evaluation dataset of an experience is prepared."""

    @hookspec
    def clhost_after_eval_dataset_adaptation(self, strategy):
        """After ``strategy.adapted_dataset`` is set for evaluation. May replace it."""

    @hookspec
    def clhost_before_eval_iteration(self, strategy):
        """Before the forward pass of one evaluation minibatch (``strategy.mbatch``)."""

    @hookspec
    def clhost_before_eval_forward(self, strategy):
        """Right before the evaluation forward pass."""

    @hookspec
    def clhost_after_eval_forward(self, strategy):
        """After the evaluation forward pass; may replace ``strategy.mb_output`` (e.g. an
        NCM classifier's scores)."""

    @hookspec
    def clhost_after_eval_iteration(self, strategy):
        """After one evaluation minibatch; ``strategy.loss`` holds its loss."""

    @hookspec(firstresult=True)
    def clhost_train_dataloader(self, strategy):
        """Build the train dataloader for ``strategy.adapted_dataset`` (exclusive slot).

        Return an iterable of minibatches ``(x, y, t, *extras)``, or ``None`` to keep the
        default. At most one plugin of a strategy may implement it: two plugins that both
        replace the dataloader cannot both be right, and the strategy refuses to build.
        """


class SGDUpdateHooks:
    """Fired by templates that do one forward/backward/update per minibatch."""

    @hookspec
    def clhost_before_forward(self, strategy):
        """Right before ``strategy.mb_output = strategy.forward()``."""

    @hookspec
    def clhost_after_forward(self, strategy):
        """After the forward pass; ``strategy.mb_output`` is set and may be replaced."""

    @hookspec
    def clhost_loss_terms(self, strategy):
        """Extra terms of the training loss for this minibatch.

        Fired after the criterion, before ``clhost_before_backward``. Return ``None``, one
        ``(name, tensor)`` pair or a list of them; every term is added to the loss and
        recorded in ``strategy.loss_terms[name]`` so it can be logged.
        """

    @hookspec
    def clhost_before_backward(self, strategy):
        """Before ``strategy.loss.backward()``; may still add to ``strategy.loss``."""

    @hookspec
    def clhost_after_backward(self, strategy):
        """After the backward pass; gradients may be read and changed (projections)."""

    @hookspec
    def clhost_before_update(self, strategy):
        """Right before ``optimizer.step()``."""

    @hookspec
    def clhost_after_update(self, strategy):
        """Right after ``optimizer.step()``."""


class MetaLearningHooks:
    """Fired by the meta-learning template instead of the forward/backward/update hooks."""

    @hookspec
    def clhost_before_inner_updates(self, strategy):
        """Before the inner (fast-weight) updates of one minibatch."""

    @hookspec
    def clhost_after_inner_updates(self, strategy):
        """After the inner updates of one minibatch."""

    @hookspec
    def clhost_before_outer_update(self, strategy):
        """Before the outer (meta) update of one minibatch."""

    @hookspec
    def clhost_after_outer_update(self, strategy):
        """After the outer update of one minibatch."""


HOOK_GROUPS = (BaseTemplateHooks, SGDLoopHooks, SGDUpdateHooks, MetaLearningHooks)
EXCLUSIVE_HOOKS = frozenset({"clhost_train_dataloader"})


def hook_names(*groups: type) -> list[str]:
    """The hook names declared by the given groups (all groups when none is given)."""
    return [
        name
        for group in groups or HOOK_GROUPS
        for name in vars(group)
        if name.startswith("clhost_")
    ]
