"""Atomic file writes: readers see the old file or the new one, never half of one.

A write killed part-way (even by SIGKILL, which runs no cleanup) leaves at most a hidden
``.NAME.PID.RANDOM.tmp`` next to the file: never read, never mistaken for the file, and
never reused (each write creates a new name exclusively); the next write of the same
file removes it once the process that wrote it is gone.
"""

from __future__ import annotations

import errno
import glob
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from clhost.errors import ParameterError


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write`` on a temporary file next to ``path``, sync it, then rename it over
    ``path``; on any failure the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    _make_directories(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)
    _remove_leftovers(path)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """``atomic_write`` for UTF-8 text."""
    return atomic_write(path, lambda file: file.write(text.encode("utf-8")))


def require_writable_directory(path: str | Path, *, what: str = "directory") -> Path:
    """Refuse, before anything is written, a directory that cannot be created or written
    to: a file, a path under a file, or one without write permission. Creates nothing."""
    path = Path(path)
    try:
        if "\x00" in str(path):
            raise ValueError("it holds a null byte")
        existing = next(p for p in (path, *path.parents) if p.exists() or p.is_symlink())
    except (OSError, ValueError) as error:  # a null byte, an unreadable parent ...
        raise ParameterError(f"{what} {str(path)!r} is not a usable path: {error}") from None
    if not existing.is_dir():
        where = "" if existing == path else f" {existing} is"
        raise ParameterError(f"{what} {path}:{where} not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" (nor can it be created in {existing})"
        raise ParameterError(f"{what} {path} is not writable{where}")
    return path


def _make_directories(directory: Path) -> None:
    """``mkdir -p``, syncing each new directory's entry in its parent."""
    if directory.is_dir():
        return
    _make_directories(directory.parent)
    directory.mkdir(exist_ok=True)
    _sync_directory(directory.parent)


def _remove_leftovers(path: Path) -> None:
    """Delete temporary files of ``path`` left by writers that were killed (POSIX, where
    ``kill(pid, 0)`` tells whether a process exists; a live writer's file is kept)."""
    if os.name != "posix":
        return
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = leftover.name[len(path.name) + 2 :].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; other systems have no directory handles).
    A file system that cannot sync a directory (some network ones say EINVAL) keeps the
    rename as durable as it makes it; that is not an error."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(descriptor)
