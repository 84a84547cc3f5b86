"""``clhost hooks``: every hook a plugin can implement, by the template level that fires it."""

from __future__ import annotations

import inspect

import click

from clhost.cli._table import table
from clhost.hookspecs import EXCLUSIVE_HOOKS, HOOK_GROUPS, hook_names


@click.command()
def hooks() -> None:
    """List every hook, by the template level firing it.

    Each hookspec is shown with the first sentence of its documentation.

    docs/hooks.md has the full text of each; `clhost info NAME` shows which hooks a
    plugin implements.
    """
    for index, group in enumerate(HOOK_GROUPS):
        if index:
            click.echo()
        click.secho(f"{group.__name__}: {_summary(group)}", bold=True)
        rows = [
            [name + _marker(group, name), _summary(getattr(group, name))]
            for name in hook_names(group)
        ]
        click.echo("\n".join("  " + line for line in table(rows).splitlines()))


def _marker(group: type, name: str) -> str:
    if name in EXCLUSIVE_HOOKS:
        return " (exclusive)"
    options = getattr(getattr(group, name), "clhost_spec", {})
    return " (first result)" if options.get("firstresult") else ""


def _summary(thing: object) -> str:
    """The first sentence of a docstring (docstring lines wrap mid-sentence)."""
    paragraph = (inspect.getdoc(thing) or "").split("\n\n")[0]
    sentence, dot, _ = " ".join(paragraph.split()).partition(". ")
    return sentence + ("." if dot else "")
