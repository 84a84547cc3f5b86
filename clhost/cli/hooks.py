"""``clhost hooks``: every hook a plugin can implement, by the template level that fires it."""

from __future__ import annotations

import inspect

import click

from clhost.cli._text import plain, wrapped
from clhost.hookspecs import EXCLUSIVE_HOOKS, HOOK_GROUPS, hook_names


@click.command()
def hooks() -> None:
    """List every hook, by the template level firing it, with its whole description.

    docs/hooks.md has the same text; `clhost info NAME` shows which hooks a plugin
    implements.
    """
    for index, group in enumerate(HOOK_GROUPS):
        if index:
            click.echo()
        click.secho(f"{group.__name__}: {plain(inspect.getdoc(group) or '')}", bold=True)
        for name in hook_names(group):
            click.echo()
            click.echo(f"  {name}{_marker(group, name)}")
            click.echo("\n".join(wrapped(inspect.getdoc(getattr(group, name)) or "", "      ")))


def _marker(group: type, name: str) -> str:
    if name in EXCLUSIVE_HOOKS:
        return " (exclusive)"
    options = getattr(getattr(group, name), "clhost_spec", {})
    return " (first result)" if options.get("firstresult") else ""
