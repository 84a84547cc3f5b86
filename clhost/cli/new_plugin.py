"""``clhost new-plugin NAME``: scaffold a third-party plugin distribution."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from clhost._atomic import require_writable_directory
from clhost.cli._errors import user_errors
from clhost.scaffold import plugin_names, write_distribution


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "-d",
    "--directory",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to create the distribution's folder.",
)
@click.option("--description", default="", help="One line for the package metadata.")
def new_plugin(name: str, directory: Path, description: str) -> None:
    """Scaffold clhost-NAME/, a plugin distribution.

    It has the skeleton every clhost distribution shares. NAME is kebab-case
    (l2-anchor). The folder gets a pyproject.toml with a strategy and a plugin entry
    point, a README, src/clhost_NAME/ with a working example method (L2 anchoring, built
    on hooks) and its tests. An existing folder is never overwritten.
    """
    with user_errors():
        names = plugin_names(name, description)
        require_writable_directory(directory, what="-d/--directory")
        root = write_distribution(names, directory)
    click.echo(f"Created {root}/ ({names.distribution}, package {names.module}). Next:")
    # python -m: the same interpreter as the README's quick start, whatever pip is on PATH
    click.echo(f"  python -m pip install -e {shlex.quote(str(root))}")
    click.echo(f"  python -m pytest {shlex.quote(str(root / 'tests'))}")
    click.echo(f"  clhost info {names.name}")
