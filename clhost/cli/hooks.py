"""``clhost hooks``: every hook a plugin can implement, by the template level that fires it."""

from __future__ import annotations

import inspect

import click

from clhost.cli._text import plain, wrapped
from clhost.hookspecs import HOOK_GROUPS, hook_names, hook_traits


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
            click.echo(f"  {name}{hook_traits(name)}")
            click.echo("\n".join(wrapped(inspect.getdoc(getattr(group, name)) or "", "      ")))
