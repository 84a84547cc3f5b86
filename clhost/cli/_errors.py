"""User mistakes become one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from clhost.errors import ClhostError


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn every ``ClhostError`` raised inside, and every ``OSError`` (a disk that is
    full, a file that cannot be written), into a ``click.ClickException``."""
    try:
        yield
    except ClhostError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        reason = error.strerror or str(error) or type(error).__name__
        raise click.ClickException(f"{where}{reason}") from None
