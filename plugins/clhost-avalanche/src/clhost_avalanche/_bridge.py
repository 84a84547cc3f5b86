"""Avalanche-style plugins (callbacks named ``before_training_exp``) as clhost plugins.

clhost finds a plugin's hooks by their prefixed, marked names; ``bridge`` builds, per
plugin, a small object implementing exactly the clhost hooks of the callbacks the
Avalanche plugin defines, each calling the callback with the strategy. A callback the
template never fires is refused at construction, as clhost refuses such a hook.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from clhost import hookimpl
from clhost.errors import PluginCompositionError
from clhost.hookspecs import hook_names
from clhost_avalanche.core import implemented_callbacks

PREFIX = "clhost_"
"""The prefix of every clhost hook name (docs/hooks.md)."""


class Bridge:
    """Runs ``plugin``'s Avalanche callbacks as clhost hooks."""

    def __init__(self, plugin: object):
        self.plugin = plugin
        self.name = type(plugin).__name__


def fired_callbacks(template: Any) -> frozenset[str]:
    """The Avalanche names of the hooks ``template`` fires."""
    return frozenset(name.removeprefix(PREFIX) for name in hook_names(*template.HOOK_GROUPS))


def is_clhost_plugin(plugin: object) -> bool:
    """True for an object with clhost hooks (passed to clhost as it is)."""
    return any(name.startswith(PREFIX) for name in dir(type(plugin)))


def bridge(
    plugin: object,
    fired: Collection[str],
    callbacks: Collection[str] | None = None,
    base: type[Bridge] = Bridge,
) -> Bridge:
    """A clhost plugin calling ``plugin``'s ``callbacks`` (by default those it defines)."""
    wanted = implemented_callbacks(plugin) if callbacks is None else list(callbacks)
    unfired = [name for name in wanted if name not in fired]
    if unfired:
        raise PluginCompositionError(
            f"plugin {type(plugin).__name__} implements {', '.join(unfired)}, which this "
            "strategy never calls"
        )
    namespace = {PREFIX + name: hookimpl(_forward(name)) for name in wanted}
    return type(f"{type(plugin).__name__}Hooks", (base,), namespace)(plugin)


def _forward(callback: str) -> Callable[[Bridge, Any], None]:
    def call(self: Bridge, strategy: Any) -> None:
        getattr(self.plugin, callback)(strategy)

    call.__name__ = PREFIX + callback
    return call
