"""What a plugin class implements, in the order the training loop fires it."""

from __future__ import annotations

from typing import Any

from clhost._markers import HOOK_PREFIX, PROJECT_NAME
from clhost.hookspecs import FIRING_ORDER, hook_names

_IMPL_OPTIONS = ("tryfirst", "trylast", "wrapper", "hookwrapper")


def implemented_hooks(component: Any) -> list[tuple[str, list[str]]]:
    """``(hook, options)`` for every marked method of ``component`` (a class or object),
    in firing order; unknown hook names come last, as written."""
    found: dict[str, list[str]] = {}
    for attribute in dir(component):
        options = getattr(getattr(component, attribute, None), f"{PROJECT_NAME}_impl", None)
        if isinstance(options, dict):
            name = options.get("specname") or attribute
            found[name] = [option for option in _IMPL_OPTIONS if options.get(option)]
    rank = {name: index for index, name in enumerate(FIRING_ORDER)}
    return sorted(found.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def hook_problems(component: Any) -> list[str]:
    """Hook names that do not exist, and ``clhost_`` methods left unmarked."""
    known = set(hook_names())
    problems = [
        f"implements unknown hook {name}"
        for name, _ in implemented_hooks(component)
        if name not in known
    ]
    for attribute in dir(component):
        method = getattr(component, attribute, None)
        if (
            attribute.startswith(HOOK_PREFIX)
            and callable(method)
            and not hasattr(method, f"{PROJECT_NAME}_impl")
        ):
            problems.append(f"method {attribute} is not marked with @clhost.hookimpl")
    return problems


def call_order_lines(strategy: Any) -> list[str]:
    """``hook: plugin, plugin, evaluator, clock`` for each hook a component of ``strategy``
    other than its evaluator and clock implements, in firing order."""
    internal = {id(strategy.clock), id(getattr(strategy, "evaluator", None))}
    rank = {name: index for index, name in enumerate(FIRING_ORDER)}
    lines = []
    for hook, labels in sorted(
        strategy.hooks.call_order().items(), key=lambda item: rank.get(item[0], len(rank))
    ):
        if any(id(plugin) not in internal for plugin in strategy.hooks.implementers(hook)):
            lines.append(f"{hook}: {', '.join(labels)}")
    return lines or ["(no plugin hooks: only the evaluator and the clock)"]
