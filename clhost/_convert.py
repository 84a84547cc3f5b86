"""Turn ``key=value`` text (or TOML values) into keyword arguments, by annotations.

Plugins annotate their constructor parameters precisely (``int``, ``float``, ``bool``,
``str``, ``Path``, ``Literal[...]``, ``X | None``, ``tuple[int, ...]``), so the command
line can parse ``hidden_sizes=256,128`` or ``mode=online`` without each plugin writing a
parser, and a wrong value is reported with the parameter's name and the type it expects.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any, Literal, Union

from clhost._params import EMPTY, Param, parameters
from clhost._typetext import SEQUENCES, homogeneous, type_text
from clhost.errors import ParameterError, closest

_NONE_WORDS = ("none", "null")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


class _Mismatch(Exception):
    """A value that does not fit an annotation (turned into a ``ParameterError`` above)."""


def bind(
    target: Callable[..., Any],
    values: Mapping[str, Any],
    *,
    what: str,
    reserved: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Convert ``values`` (text or TOML values) to the keywords of ``target``.

    Keys may use dashes for underscores. ``reserved`` maps keywords the caller sets itself
    to the option that sets them. Unknown keys list the valid ones, closest first.
    """
    known = parameters(target)
    reserved = reserved or {}
    kwargs: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = raw_key.strip().replace("-", "_")
        if key in reserved:
            raise ParameterError(f"{what}: {key!r} is set with {reserved[key]}, not as a parameter")
        if key not in known:
            raise ParameterError(_unknown_parameter(what, key, set(known) - set(reserved)))
        kwargs[key] = convert(value, known[key], what=what)
    return kwargs


def convert(value: Any, param: Param, *, what: str) -> Any:
    """``value`` converted to ``param``'s annotation, or a ``ParameterError`` that names the
    parameter and the expected type. Unannotated parameters follow their default's type."""
    annotation = param.annotation
    if annotation is EMPTY or annotation is Any or isinstance(annotation, str):
        annotation = _type_of_default(param.default)
    try:
        return _convert(value, annotation)
    except _Mismatch:
        raise ParameterError(
            f"{what}: parameter {param.name!r} expects {type_text(annotation)}, got {value!r}"
        ) from None


def _type_of_default(default: Any) -> Any:
    if isinstance(default, (bool, int, float, str)):
        return type(default)
    return Any


def _convert(value: Any, annotation: Any) -> Any:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return value
    if annotation is type(None):
        if value is None or isinstance(value, str) and value.strip().lower() in _NONE_WORDS:
            return None
        raise _Mismatch
    if origin is Literal:
        return _literal(value, args)
    if origin in (Union, types.UnionType):
        return _union(value, args)
    if origin in SEQUENCES or annotation in SEQUENCES:
        return _sequence(value, origin or annotation, args)
    if annotation in (bool, int, float, str):
        return _scalar(value, annotation)
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return _path(value, annotation)
    if isinstance(annotation, type) and isinstance(value, annotation):
        return value
    raise _Mismatch


def _path(value: Any, kind: type[PurePath]) -> PurePath:
    """A file name: any non-empty text (a logger's file, under ``--output``)."""
    if isinstance(value, PurePath):
        return kind(value)
    if isinstance(value, str) and value.strip():
        return kind(value.strip())
    raise _Mismatch


def _scalar(value: Any, kind: type) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if kind is str:
            return value
        if kind is bool:
            if text.lower() in _TRUE_WORDS:
                return True
            if text.lower() in _FALSE_WORDS:
                return False
            raise _Mismatch
        try:
            return kind(text)
        except ValueError:
            raise _Mismatch from None
    if isinstance(value, bool):
        if kind is bool:
            return value
        raise _Mismatch
    if kind is float and isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, kind):
        return value
    raise _Mismatch


def _literal(value: Any, choices: tuple[Any, ...]) -> Any:
    for choice in choices:
        if value == choice and type(value) is type(choice):
            return choice
    if isinstance(value, str):
        for choice in choices:
            try:
                if _scalar(value, type(choice)) == choice:
                    return choice
            except _Mismatch:
                continue
    raise _Mismatch


def _union(value: Any, members: tuple[Any, ...]) -> Any:
    if type(None) in members and (
        value is None or isinstance(value, str) and value.strip().lower() in _NONE_WORDS
    ):
        return None
    for member in members:
        if member is type(None):
            continue
        try:
            return _convert(value, member)
        except _Mismatch:
            continue
    raise _Mismatch


def _sequence(value: Any, origin: Any, args: tuple[Any, ...]) -> Any:
    if isinstance(value, str):
        items: list[Any] = [part.strip() for part in value.split(",")] if value.strip() else []
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _Mismatch
    if homogeneous(args):
        converted = [_convert(item, args[0]) for item in items]
    elif args:
        if len(items) != len(args):
            raise _Mismatch
        converted = [_convert(item, arg) for item, arg in zip(items, args, strict=True)]
    else:
        converted = items
    return converted if origin is list else tuple(converted)


def _unknown_parameter(what: str, key: str, valid: set[str]) -> str:
    message = f"{what}: unknown parameter {key!r}"
    matches = closest(key, valid)
    message += f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else "."
    if valid:
        return message + f" Valid parameters: {', '.join(sorted(valid))}"
    return message + " It takes no parameters."
