"""``clhost check``: does every installed entry point keep the plugin contract?"""

from __future__ import annotations

import importlib
import typing
from typing import Any

import click

from clhost import registry
from clhost._params import parameters
from clhost.cli._errors import user_errors
from clhost.cli._hooks import hook_problems, implemented_hooks
from clhost.cli._table import table
from clhost.errors import PluginCompositionError, PluginLoadError

# kind -> the module, in the distribution's package, that defines entry points of that
# kind: one layout for every distribution (docs/plugin-guide.md, "Names and layout")
LAYOUT = {
    "strategy": "strategy",
    "plugin": "plugin",
    "loss": "loss",
    "buffer": "buffer",
    "selection": "selection",
    "logger": "logger",
}
# kinds whose components keep state in checkpoints under a declared key
_STATEFUL_KINDS = ("plugin", "loss", "buffer", "selection")

# kind -> (module, class) that entry points of that kind must subclass, when the module
# exists in this host
_BASES = {
    "strategy": ("clhost.templates", "BaseTemplate"),
    "buffer": ("clhost.rehearsal", "ExemplarsBuffer"),
    "selection": ("clhost.rehearsal", "ExemplarsSelectionStrategy"),
    "logger": ("clhost.evaluation", "Logger"),
}


@click.command()
@click.argument("kind", required=False)
def check(kind: str | None) -> None:
    """Check that installed plugins keep the contract.

    Checks the entry points of one KIND, or all. Each must load; be the right kind of
    object (a template subclass for strategies, a class whose hooks all exist and are
    marked for plugins, an ExemplarsBuffer or ExemplarsSelectionStrategy subclass for
    buffers and selection, a Logger subclass for loggers, a callable for losses and
    benchmarks); have a docstring and annotated parameters (plugins, loggers and
    strategies with defaults); and no other distribution may register the same name. In
    clhost-* distributions, each entry point is defined in the module its kind names
    (strategy.py, plugin.py, loss.py, buffer.py, selection.py, logger.py) and every
    stateful component declares its entry-point name as its state_key. Exits 1 with a
    table of the failures.
    """
    with user_errors():
        found = registry.scan(kind)
    failures = [
        [
            first.kind,
            first.name,
            f"{first.distribution}, {second.distribution}",
            "name registered by two distributions",
        ]
        for first, second in found.duplicates
    ]
    for entry in found.entries:
        for problem in entry_problems(entry):
            failures.append([entry.kind, entry.name, entry.distribution, problem])
    if failures:
        click.echo(table(failures, headers=["KIND", "NAME", "DISTRIBUTION", "PROBLEM"]))
        raise click.ClickException(
            f"{len(failures)} problem(s) in {len(found.entries)} entry points"
        )
    click.echo(f"{len(found.entries)} entry points checked: all keep the plugin contract.")


def entry_problems(entry: registry.Entry) -> list[str]:
    """Everything wrong with one entry point; empty when it conforms."""
    try:
        component = entry.load()
    except PluginLoadError as error:
        return [f"does not load: {error.error}"]
    if not callable(component):
        return [f"is a {type(component).__name__}, not a class or function"]
    problems = _kind_problems(entry.kind, component)
    problems += _parameter_problems(entry.kind, component)
    problems += layout_problems(entry, component)
    problems += state_key_problems(entry, component)
    if not getattr(component, "__doc__", None):
        problems.append("has no docstring (clhost info shows it to users)")
    return problems


def layout_problems(entry: registry.Entry, component: Any) -> list[str]:
    """In a ``clhost-*`` distribution, an entry point of a kind in ``LAYOUT`` is defined in
    that module of its package (``clhost_replay.plugin.ReplayPlugin``); the host's own
    entry points are exempt."""
    wanted = LAYOUT.get(entry.kind)
    module = getattr(component, "__module__", "") or ""
    if wanted is None or module.split(".")[0] == "clhost" or not _clhost_family(entry):
        return []
    if module.rsplit(".", 1)[-1] != wanted:
        return [f"is defined in {module}, not in the {wanted}.py module of its package"]
    return []


def state_key_problems(entry: registry.Entry, component: Any) -> list[str]:
    """A component that keeps state declares ``state_key``, its entry-point name (or a
    name that begins with it, e.g. ``icarl-loss``), so checkpoints survive renames."""
    if entry.kind not in _STATEFUL_KINDS or not isinstance(component, type):
        return []
    if not _clhost_family(entry):
        return []
    if not callable(getattr(component, "state_dict", None)):
        return []
    declared = next(
        (vars(k)["state_key"] for k in component.__mro__ if "state_key" in vars(k)), None
    )
    if not isinstance(declared, str):
        return [f"declares no state_key (give it the entry-point name, {entry.name!r})"]
    if declared != entry.name and not declared.startswith(f"{entry.name}-"):
        return [f"state_key {declared!r} is not its entry-point name {entry.name!r}"]
    return []


def _clhost_family(entry: registry.Entry) -> bool:
    """Distributions named ``clhost-*`` (first-party, and third-party ones made by
    ``clhost new-plugin``) share one layout and declared state keys."""
    return registry.normalize_distribution(entry.distribution).startswith("clhost-")


def _kind_problems(kind: str, component: Any) -> list[str]:
    if kind in _BASES:
        base = _base_class(*_BASES[kind])
        if base is not None and not _makes(component, base):
            return [f"is not a subclass of {base.__name__}"]
    if kind == "strategy":
        return _composition_problems(component)
    if kind == "plugin":
        if not isinstance(component, type):
            return ["is not a class (the CLI builds plugins from their parameters)"]
        problems = hook_problems(component)
        return problems or ([] if implemented_hooks(component) else ["implements no hook"])
    if kind == "loss":
        return hook_problems(component)
    return []


def _parameter_problems(kind: str, component: Any) -> list[str]:
    """Every parameter annotated; a plugin's and a logger's parameters (``clhost run``
    builds them from what is given) and a strategy's method parameters (not the template
    inputs it may repeat, such as ``model``) with defaults."""
    problems = []
    own = getattr(component, "__qualname__", "")
    template_inputs = _template_inputs(component) if kind == "strategy" else set()
    for param in parameters(component).values():
        if not param.annotated:
            problems.append(f"parameter {param.name!r} has no annotation")
        elif isinstance(param.annotation, str):
            problems.append(f"annotation of {param.name!r} cannot be resolved: {param.annotation}")
        method_parameter = param.owner == own and param.name not in template_inputs
        needs_default = kind in ("plugin", "logger") or kind == "strategy" and method_parameter
        if needs_default and param.required:
            problems.append(f"parameter {param.name!r} has no default")
    return problems


def _template_inputs(strategy: Any) -> set[str]:
    """The keywords of the host template a strategy class derives from."""
    for klass in getattr(strategy, "__mro__", ())[1:]:
        if klass.__module__.startswith("clhost.templates"):
            return set(parameters(klass))
    return set()


def _composition_problems(strategy: Any) -> list[str]:
    """A strategy whose own plugins cannot work with its template fails when built."""
    import torch

    model = torch.nn.Linear(1, 1)
    try:
        strategy(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    except PluginCompositionError as error:
        return [f"cannot be built: {error}"]
    except Exception:  # needs arguments that a bare build cannot give: not a defect
        pass
    return []


def _base_class(module: str, name: str) -> type | None:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _makes(component: Any, base: type) -> bool:
    """A subclass of ``base``, or a factory annotated to return one."""
    if isinstance(component, type):
        return issubclass(component, base)
    try:
        returned = typing.get_type_hints(component).get("return")
    except Exception:
        return False
    return isinstance(returned, type) and issubclass(returned, base)
