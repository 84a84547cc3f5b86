"""Parameter validators with the host's error style, for every plugin to share.

Each takes the parameter's name and the value given, and returns the value (converted
where that is safe, e.g. an int where a float is expected) or raises a
``ParameterError`` that names the parameter and says what was expected. ``bool`` is
never accepted as a number, because ``mem_size=True`` is always a mistake.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

from clhost.errors import ParameterError

T = TypeVar("T")


def positive_int(name: str, value: Any) -> int:
    """An integer of at least 1 (a size, a count of steps)."""
    if not _is_int(value) or value < 1:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(name: str, value: Any) -> int:
    """An integer of at least 0 (a size that may be empty)."""
    if not _is_int(value) or value < 0:
        raise ParameterError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite number in ``[low, high]`` (an end is excluded when ``*_open``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lower = "(-inf" if low is None else f"{'(' if low_open else '['}{low:g}"
        upper = "inf)" if high is None else f"{high:g}{')' if high_open else ']'}"
        raise ParameterError(f"{name} must be in {lower}, {upper}, got {value!r}")
    return float(value)


def boolean(name: str, value: Any) -> bool:
    """``True`` or ``False``, nothing that merely converts to one."""
    if not isinstance(value, bool):
        raise ParameterError(f"{name} must be True or False, got {value!r}")
    return value


def text(name: str, value: Any) -> str:
    """A non-empty string (a name, a URI)."""
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(f"{name} must be a non-empty string, got {value!r}")
    return value


def path(name: str, value: Any) -> Path:
    """A file or directory name: a non-empty string or ``os.PathLike``, as a ``Path``."""
    if isinstance(value, os.PathLike) or isinstance(value, str) and value.strip():
        return Path(value)
    raise ParameterError(f"{name} must be a path (a string or a Path), got {value!r}")


def one_of(name: str, value: T, choices: Collection[T]) -> T:
    """One of ``choices`` (e.g. the values of a ``Literal`` annotation)."""
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ParameterError(f"{name} must be one of {listed}, got {value!r}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
