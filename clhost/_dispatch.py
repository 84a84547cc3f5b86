"""One plugin manager per strategy, and pre-resolved hook calls for the training loop.

pluggy validates the plugins; the loop itself does not go through pluggy's caller. For
every hook the dispatcher keeps a tuple of plain functions in call order, resolved once at
construction, so a hook without implementations is an empty tuple and firing a hook
allocates nothing. Hook wrappers are the exception: they keep pluggy's caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from clhost._markers import HOOK_PREFIX, PROJECT_NAME
from clhost.errors import PluginCompositionError, closest
from clhost.hookspecs import EXCLUSIVE_HOOKS, hook_names

HookCalls = tuple[Callable[[Any], Any], ...]


def plugin_label(plugin: object) -> str:
    """How a plugin is named in messages: its ``name`` attribute or its class name."""
    name = getattr(plugin, "name", None)
    return name if isinstance(name, str) else type(plugin).__name__


class HookDispatcher:
    """Registers ``plugins`` for one strategy and resolves every hook the template fires.

    ``plugins`` are called in the order given (pluggy calls the last registered first, so
    they are registered in reverse). Attributes named after each hook without its prefix
    (``before_forward``, ...) hold the tuple of functions to call with the strategy.
    """

    def __init__(self, template_name: str, groups: Sequence[type], plugins: Sequence[object]):
        self.template_name = template_name
        self.plugins = list(plugins)
        self.hook_names = hook_names(*groups)
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        for group in groups:
            self._pm.add_hookspecs(group)
        _reject_repeats(self.plugins)
        for position, plugin in reversed(list(enumerate(self.plugins))):
            _reject_unmarked_hooks(plugin)
            try:
                self._pm.register(plugin, name=f"{position}:{plugin_label(plugin)}")
            except (pluggy.PluginValidationError, ValueError) as error:
                raise PluginCompositionError(f"plugin {plugin_label(plugin)}: {error}") from None
        self._reject_unfired_hooks()
        self._reject_shared_exclusive_slots()
        for name in self.hook_names:
            setattr(self, name[len(HOOK_PREFIX) :], self._resolve(name))

    if TYPE_CHECKING:  # the hook attributes are set per template in __init__

        def __getattr__(self, name: str) -> HookCalls: ...

    def implementers(self, hook: str) -> list[object]:
        """The plugins implementing ``hook`` (with or without prefix), in call order."""
        name = hook if hook.startswith(HOOK_PREFIX) else HOOK_PREFIX + hook
        caller = getattr(self._pm.hook, name)
        return [impl.plugin for impl in reversed(caller.get_hookimpls())]

    def call_order(self) -> dict[str, list[str]]:
        """For each implemented hook, the labels of its implementers in call order."""
        order = {
            name: [plugin_label(p) for p in self.implementers(name)] for name in self.hook_names
        }
        return {name: labels for name, labels in order.items() if labels}

    def _resolve(self, name: str) -> HookCalls:
        caller = getattr(self._pm.hook, name)
        impls = caller.get_hookimpls()
        if any(impl.hookwrapper or impl.wrapper for impl in impls):
            return (lambda strategy: caller(strategy=strategy),)
        return tuple(
            impl.function if impl.argnames else _ignoring_strategy(impl.function)
            for impl in reversed(impls)
        )

    def _reject_unfired_hooks(self) -> None:
        every_hook = hook_names()
        for plugin in self.plugins:
            for caller in self._pm.get_hookcallers(plugin) or ():
                if caller.spec is not None:
                    continue
                if caller.name in every_hook:
                    raise PluginCompositionError(
                        f"plugin {plugin_label(plugin)} implements {caller.name}, which "
                        f"{self.template_name} never fires; use a template that does"
                    )
                hint = closest(caller.name, every_hook, n=1)
                raise PluginCompositionError(
                    f"plugin {plugin_label(plugin)} implements unknown hook {caller.name}"
                    + (f"; did you mean {hint[0]}?" if hint else "")
                )

    def _reject_shared_exclusive_slots(self) -> None:
        for name in EXCLUSIVE_HOOKS.intersection(self.hook_names):
            owners = self.implementers(name)
            if len(owners) > 1:
                labels = " and ".join(plugin_label(p) for p in owners)
                raise PluginCompositionError(
                    f"plugins {labels} both implement {name}, a slot only one plugin may "
                    "fill; use one of them"
                )


def _ignoring_strategy(function: Callable[[], Any]) -> Callable[[Any], Any]:
    return lambda strategy: function()


def _reject_repeats(plugins: list[object]) -> None:
    seen: set[int] = set()
    for plugin in plugins:
        if id(plugin) in seen:
            raise PluginCompositionError(f"plugin {plugin_label(plugin)} is given twice")
        seen.add(id(plugin))


def _reject_unmarked_hooks(plugin: object) -> None:
    for attribute in dir(type(plugin)):
        if not attribute.startswith(HOOK_PREFIX):
            continue
        method = getattr(plugin, attribute)
        if callable(method) and not hasattr(method, f"{PROJECT_NAME}_impl"):
            raise PluginCompositionError(
                f"plugin {plugin_label(plugin)}: method {attribute} looks like a hook but is "
                "not marked; decorate it with @clhost.hookimpl"
            )
