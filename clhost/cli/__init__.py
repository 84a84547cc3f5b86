"""The ``clhost`` command: list, explain, compose and check plugins.

Importing this package never imports torch, so ``clhost list``, ``info`` of metadata and
``hooks`` answer instantly; the commands that build models import it when they run.
"""

from __future__ import annotations

import warnings
from typing import Any

import click

from clhost import __version__
from clhost.cli.check import check
from clhost.cli.hooks import hooks
from clhost.cli.info import info
from clhost.cli.listing import list_command
from clhost.cli.new_plugin import new_plugin
from clhost.cli.report import report
from clhost.cli.run import run
from clhost.cli.sweep import sweep
from clhost.registry import AllowListWarning


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clhost")
def main() -> None:
    """Continual learning with PyTorch, built from installable plugins.

    Strategies, plugins, replay buffers, selection strategies, losses and benchmarks are
    found through entry points; CLHOST_PLUGINS=dist,... limits which distributions are
    visible and CLHOST_DISABLE_PLUGIN_AUTOLOAD=1 hides all but the host's.
    """
    warnings.showwarning = _show_warning


_python_showwarning = warnings.showwarning


def _show_warning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """clhost's own warnings as one line, like its errors; others as Python shows them."""
    if issubclass(category, AllowListWarning):
        click.echo(f"Warning: {message}", err=True)
    else:
        _python_showwarning(message, category, *args, **kwargs)


for command in (list_command, info, hooks, run, sweep, report, new_plugin, check):
    main.add_command(command)

__all__ = ["main"]
