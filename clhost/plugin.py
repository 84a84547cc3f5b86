"""Bases for training plugins, one per template level (Avalanche's plugin ABCs).

Subclassing is optional: any object with methods marked ``@clhost.hookimpl`` is a plugin,
and the strategy checks when it is built that the template fires every hook implemented.
The bases say which level a plugin targets and give the state protocol checkpoints use.
"""

from __future__ import annotations

import re
from typing import Any

from clhost.errors import CheckpointError


class BasePlugin:
    """A plugin for any template (train/eval loops over experiences).

    ``state_dict``/``load_state_dict`` follow PyTorch's contract: the state holds only
    tensors, numbers, strings, and lists/tuples/dicts of them, so checkpoints load
    without unpickling objects. The defaults save ``state_components``.
    """

    #: Attributes holding objects with their own ``state_dict``/``load_state_dict`` (a
    #: replay buffer, a memory): the plugin's state is theirs, each under its attribute
    #: name, so a plugin whose state is its buffer declares ``state_components =
    #: ("buffer",)`` and writes no state methods. Stateless plugins keep ``()``.
    state_components: tuple[str, ...] = ()

    def state_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).state_dict() for name in self.state_components}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        expected = set(self.state_components)
        if not isinstance(state, dict) or set(state) != expected:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(
                f"{type(self).__name__} keeps state {sorted(expected)}, got {got}"
            )
        for name in self.state_components:
            getattr(self, name).load_state_dict(state[name])

    @property
    def state_key(self) -> str:
        """The stable key of this plugin's state in a checkpoint. First-party plugins set
        it to their entry-point name (``state_key = "replay"``), so renaming the class
        never orphans a saved state; undeclared, it is derived from the class name."""
        return legacy_state_key(self)


class BaseSGDPlugin(BasePlugin):
    """A plugin for minibatch templates (epochs, iterations, forward/backward/update)."""


class SupervisedPlugin(BaseSGDPlugin):
    """A plugin for supervised classification templates."""


class SupervisedMetaLearningPlugin(SupervisedPlugin):
    """A plugin for the meta-learning template (inner and outer updates)."""


def state_key_of(component: object) -> str:
    """The key ``component``'s state is saved under: its declared ``state_key``, else the
    key clhost derived before keys were declared (``legacy_state_key``)."""
    key = getattr(component, "state_key", None)
    return key if isinstance(key, str) else legacy_state_key(component)


def legacy_state_key(component: object) -> str:
    """The key of checkpoints written before keys were declared: a ``name`` attribute, or
    the class name in kebab case (``ReplayPlugin`` -> ``replay-plugin``)."""
    name = getattr(component, "name", None)
    if not isinstance(name, str):
        name = type(component).__name__
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()
