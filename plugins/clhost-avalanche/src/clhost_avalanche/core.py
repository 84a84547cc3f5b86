"""``avalanche.core``: the plugin bases of Avalanche, whose callbacks run as clhost hooks.

A plugin written against Avalanche's ``SupervisedPlugin`` (``def
before_training_exp(self, strategy, **kwargs)``) works unchanged: the strategies of this
layer hand it to clhost through ``clhost_avalanche._bridge``, which implements the clhost
hook of each callback the plugin overrides and calls it with the running strategy (a
clhost template that also answers Avalanche's attribute names: ``model``, ``experience``,
``mb_x``, ``mb_output``, ``loss``, ``clock``, ``is_eval``, ...).
"""

from __future__ import annotations

from typing import Any

from clhost_avalanche._exports import lazy_module

BASE_CALLBACKS = (
    "before_training",
    "before_training_exp",
    "after_training_exp",
    "after_training",
    "before_eval",
    "before_eval_exp",
    "after_eval_exp",
    "after_eval",
)
SGD_CALLBACKS = (
    "before_train_dataset_adaptation",
    "after_train_dataset_adaptation",
    "before_training_epoch",
    "before_training_iteration",
    "before_forward",
    "after_forward",
    "before_backward",
    "after_backward",
    "before_update",
    "after_update",
    "after_training_iteration",
    "after_training_epoch",
    "before_eval_dataset_adaptation",
    "after_eval_dataset_adaptation",
    "before_eval_iteration",
    "before_eval_forward",
    "after_eval_forward",
    "after_eval_iteration",
)
META_CALLBACKS = (
    "before_inner_updates",
    "after_inner_updates",
    "before_outer_update",
    "after_outer_update",
)
CALLBACKS = (*BASE_CALLBACKS, *SGD_CALLBACKS, *META_CALLBACKS)


def _does_nothing(self: Any, strategy: Any, *args: Any, **kwargs: Any) -> None:
    """An Avalanche callback the plugin does not override."""


class BasePlugin:
    """Avalanche's ``BasePlugin``: the callbacks of every template, each doing nothing."""

    supports_distributed = False

    def __init__(self) -> None:
        """Avalanche's bases take no arguments; subclasses call ``super().__init__()``."""


class BaseSGDPlugin(BasePlugin):
    """Avalanche's ``BaseSGDPlugin``: adds the epoch, iteration and update callbacks."""


class SupervisedPlugin(BaseSGDPlugin):
    """Avalanche's ``SupervisedPlugin``, the base of most plugins."""


class SupervisedMetaLearningPlugin(SupervisedPlugin):
    """Avalanche's ``SupervisedMetaLearningPlugin``: adds the inner/outer update callbacks."""


for _group, _names in (
    (BasePlugin, BASE_CALLBACKS),
    (BaseSGDPlugin, SGD_CALLBACKS),
    (SupervisedMetaLearningPlugin, META_CALLBACKS),
):
    for _name in _names:
        setattr(_group, _name, _does_nothing)


def implemented_callbacks(plugin: object) -> list[str]:
    """The Avalanche callbacks ``plugin`` defines (overrides of the no-op bases, or any
    method of that name on a plugin that does not subclass them)."""
    return [
        name
        for name in CALLBACKS
        if callable(getattr(type(plugin), name, None))
        and getattr(type(plugin), name) is not _does_nothing
    ]


UNSUPPORTED = {
    name: "clhost's strategies are its templates (clhost.templates); experiences are "
    "clhost.data.Experience"
    for name in ("Agent", "Adaptable", "CLExperience", "Template")
}
__getattr__, __dir__ = lazy_module(globals(), {}, UNSUPPORTED)

__all__ = [
    "BasePlugin",
    "BaseSGDPlugin",
    "SupervisedMetaLearningPlugin",
    "SupervisedPlugin",
]
