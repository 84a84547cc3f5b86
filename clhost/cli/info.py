"""``clhost info NAME``: what an entry point is, where it comes from, how to configure it."""

from __future__ import annotations

import inspect
from typing import Any

import click

from clhost import registry
from clhost._params import parameters
from clhost.cli._errors import user_errors
from clhost.cli._hooks import call_order_lines, implemented_hooks
from clhost.cli._text import plain
from clhost.errors import PluginLoadError, UnknownNameError


@click.command()
@click.argument("name")
@click.option("--kind", "kind", help="Only this kind (the name may exist as several).")
def info(name: str, kind: str | None) -> None:
    """Show what NAME is, its parameters and hooks.

    Prints the kind, distribution and version, documentation, parameters with their
    annotations and defaults, and the hooks implemented in the order they fire.

    A method often exists as a strategy and as a plugin under one name; both are shown
    unless --kind picks one. Strategies are built with their defaults on a one-layer model
    to show the resolved per-hook call order (plugins in order, then evaluator and clock).
    """
    with user_errors():
        entries = _entries_named(name, kind)
    failed = False
    for index, entry in enumerate(entries):
        if index:
            click.echo()
        try:
            component = entry.load()
        except PluginLoadError as error:
            click.secho(f"{entry.name} ({entry.kind})", bold=True)
            click.secho(f"  cannot be loaded: {error.error}", fg="red", err=True)
            failed = True
            continue
        click.echo(describe(entry, component))
    if failed:
        raise SystemExit(1)


def describe(entry: registry.Entry, component: Any) -> str:
    """The text ``clhost info`` prints for one loaded entry."""
    lines = [
        click.style(f"{entry.name} ({entry.kind})", bold=True),
        f"  from {entry.distribution} {entry.version}: {entry.value}",
    ]
    doc = inspect.getdoc(component)
    if doc:
        lines += ["", *("  " + line if line else "" for line in plain(doc).splitlines())]
    lines += _parameter_lines(component)
    lines += _capability_lines(component)
    if entry.kind == "strategy" and isinstance(component, type):
        lines += _strategy_hook_lines(component)
    else:
        lines += _hook_lines(component)
    return "\n".join(lines)


def _entries_named(name: str, kind: str | None) -> list[registry.Entry]:
    if kind is not None:
        return [registry.get_entry(kind, name)]
    found = registry.scan()
    wanted = {name, registry.normalize_name(name)}
    entries = [entry for entry in found.entries if entry.name in wanted]
    if not entries:
        raise UnknownNameError("name", name, {entry.name for entry in found.entries})
    for error in found.errors(entries[0].name):
        raise error
    return entries


def _parameter_lines(component: Any) -> list[str]:
    if not callable(component):
        return ["", f"  Not callable: a {type(component).__name__}."]
    by_owner: dict[str, list[str]] = {}
    for param in parameters(component).values():
        by_owner.setdefault(param.owner, []).append(param.describe())
    if not by_owner:
        return ["", "  Parameters: none."]
    lines: list[str] = []
    for index, (owner, described) in enumerate(by_owner.items()):
        title = "Parameters" if index == 0 else f"Passed on to {owner.split('.')[0]}"
        lines += ["", f"  {title}:", *(f"    {text}" for text in described)]
    return lines


def _capability_lines(component: Any) -> list[str]:
    """The composition rules a class declares (``clhost.capabilities``)."""
    from clhost.capabilities import declared_by, describe

    rules = describe(declared_by(component)) if isinstance(component, type) else []
    if not rules:
        return []
    return ["", "  Composition rules (checked when a strategy is built):"] + [
        f"    {rule}" for rule in rules
    ]


def _hook_lines(component: Any) -> list[str]:
    hooks = implemented_hooks(component)
    if not hooks:
        return []
    lines = ["", "  Hooks, in the order the loop fires them:"]
    for name, options in hooks:
        lines.append(f"    {name}" + (f" ({', '.join(options)})" if options else ""))
    return lines


def _strategy_hook_lines(strategy_class: type) -> list[str]:
    """Build the strategy with defaults on a small model and read its resolved call order."""
    from clhost.cli._compose import bare_strategy

    try:
        strategy = bare_strategy(strategy_class)
    except Exception as error:  # info must describe even what cannot be built bare
        return ["", f"  Hooks: shown once built; with defaults it fails: {error}"]
    return ["", "  Hooks, in firing order, with their implementers in call order:"] + [
        "    " + line for line in call_order_lines(strategy)
    ]
