"""User mistakes become one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from clhost.errors import ClhostError


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn every ``ClhostError`` raised inside into a ``click.ClickException``."""
    try:
        yield
    except ClhostError as error:
        raise click.ClickException(str(error)) from None
