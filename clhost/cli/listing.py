"""``clhost list``: what is installed, read from metadata without importing any plugin."""

from __future__ import annotations

import click

from clhost import registry
from clhost.cli._errors import user_errors
from clhost.cli._table import table


@click.command("list")
@click.argument("kind", required=False)
def list_command(kind: str | None) -> None:
    """List installed entry points (of one KIND, or all).

    KIND is one of strategy, plugin, buffer, selection, loss, benchmark, logger (plural
    and group names work too). Nothing is imported, so a broken plugin is still listed; `clhost
    check` loads each one.
    """
    with user_errors():
        kinds = registry.KINDS if kind is None else (registry.kind_of(kind),)
        found = registry.scan(None if kind is None else kinds[0])
    for index, each in enumerate(kinds):
        entries = [e for e in found.entries if e.kind == each]
        if index:
            click.echo()
        click.secho(f"{each} ({registry.GROUPS[each]})", bold=True)
        rows = [[e.name, f"{e.distribution} {e.version}", e.value] for e in entries]
        click.echo(_indent(table(rows)) if rows else "  (none installed)")
    if registry.allowed_distributions() is not None:
        click.echo(
            f"\n(limited by {registry.ALLOW_LIST_VARIABLE} or {registry.NO_AUTOLOAD_VARIABLE})",
            err=True,
        )
    errors = found.errors()
    for error in errors:
        click.secho(f"Error: {error}", err=True, fg="red")
    if errors:
        raise SystemExit(1)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
