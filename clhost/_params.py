"""Turn ``key=value`` text (or TOML values) into keyword arguments, by annotations.

Plugins annotate their constructor parameters precisely (``int``, ``float``, ``bool``,
``str``, ``Literal[...]``, ``X | None``, ``tuple[int, ...]``), so the command line can
parse ``hidden_sizes=256,128`` or ``mode=online`` without each plugin writing a parser,
and a wrong value is reported with the parameter's name and the type it expects.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

from clhost.errors import ParameterError, closest

EMPTY = inspect.Parameter.empty
_NONE_WORDS = ("none", "null")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")
_SEQUENCES = (tuple, list, collections.abc.Sequence, typing.Sequence)


@dataclass(frozen=True)
class Param:
    """One keyword a callable accepts: its resolved annotation, its default (``EMPTY`` if
    absent) and the qualified name of the function or class that declares it."""

    name: str
    annotation: Any = EMPTY
    default: Any = EMPTY
    owner: str = ""

    @property
    def required(self) -> bool:
        return self.default is EMPTY

    @property
    def annotated(self) -> bool:
        return self.annotation is not EMPTY

    def describe(self) -> str:
        """``name: int = 3``, the way ``clhost info`` shows a parameter."""
        text = self.name
        if self.annotated:
            text += f": {annotation_text(self.annotation)}"
        if not self.required:
            text += f" = {self.default!r}"
        return text


class _Mismatch(Exception):
    """A value that does not fit an annotation (turned into a ``ParameterError`` above)."""


def parameters(target: Callable[..., Any]) -> dict[str, Param]:
    """The keywords ``target`` accepts. For a class, its ``__init__`` and, while that takes
    ``**kwargs``, the ``__init__`` of its bases (a strategy passes template options up)."""
    if not isinstance(target, type):
        return _own_parameters(target, _qualname(target))[0]
    found: dict[str, Param] = {}
    for klass in target.__mro__:
        init = vars(klass).get("__init__")
        if init is None or klass is object:
            continue
        own, forwards = _own_parameters(init, klass.__qualname__)
        for name, param in own.items():
            found.setdefault(name, param)
        if not forwards:
            break
    return found


def accepts(target: Callable[..., Any], name: str) -> bool:
    """Whether ``target`` takes a keyword called ``name``."""
    return name in parameters(target)


def parse_assignments(items: Iterable[str], *, what: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; anything else is a ``ParameterError``."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"{what}: expected key=value, got {item!r}")
        values[key.strip()] = value.strip()
    return values


def parse_spec(spec: str, *, what: str) -> tuple[str, dict[str, str]]:
    """``"name:k=v,k2=v2"`` -> ``("name", {"k": "v", "k2": "v2"})``.

    A comma-separated piece without ``=`` continues the previous value, so
    ``mlp:hidden_sizes=256,128,dropout=0.1`` keeps ``hidden_sizes`` a list.
    """
    name, _, rest = spec.partition(":")
    if not name.strip():
        raise ParameterError(f"{what}: expected NAME or NAME:key=value,..., got {spec!r}")
    pieces: list[str] = []
    for piece in rest.split(",") if rest.strip() else ():
        if "=" in piece or not pieces:
            pieces.append(piece)
        else:
            pieces[-1] += "," + piece
    return name.strip(), parse_assignments(pieces, what=f"{what} {name.strip()!r}")


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


def missing_required(
    target: Callable[..., Any], given: Iterable[str], *, what: str
) -> ParameterError | None:
    """An error naming the required parameters of ``target`` not in ``given``, if any."""
    given = set(given)
    missing = [p for p in parameters(target).values() if p.required and p.name not in given]
    if not missing:
        return None
    listed = ", ".join(p.describe() for p in missing)
    return ParameterError(f"{what} needs parameter(s) {listed}; give them as key=value")


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


def type_text(annotation: Any) -> str:
    """How an expected type reads in an error message: ``int or none``, ``one of 'a', 'b'``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return "any value"
    if annotation is type(None):
        return "none"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(type_text(a) for a in args)
    if origin in _SEQUENCES:
        if _homogeneous(args):
            return f"comma-separated {type_text(args[0])} values"
        if args:
            return f"{len(args)} comma-separated values ({', '.join(map(type_text, args))})"
        return "comma-separated values"
    return getattr(annotation, "__name__", None) or annotation_text(annotation)


def annotation_text(annotation: Any) -> str:
    """An annotation as it would be written in source: ``int | None``, ``Literal['a']``."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__qualname__
    text = inspect.formatannotation(annotation)
    return text.replace("collections.abc.", "").replace("typing.", "")


def _own_parameters(function: Callable[..., Any], owner: str) -> tuple[dict[str, Param], bool]:
    """The keyword parameters of one function with resolved annotations, and whether it
    also takes ``**kwargs``."""
    signature = inspect.signature(function)
    hints = _resolved_hints(function)
    found, forwards = {}, False
    for index, p in enumerate(signature.parameters.values()):
        if p.kind is p.VAR_KEYWORD:
            forwards = True
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            continue
        if index == 0 and p.name in ("self", "cls") and inspect.isfunction(function):
            continue
        annotation = hints.get(p.name, p.annotation)
        found[p.name] = Param(p.name, annotation, p.default, owner)
    return found, forwards


def _qualname(target: Any) -> str:
    return getattr(target, "__qualname__", type(target).__qualname__)


def _resolved_hints(function: Callable[..., Any]) -> dict[str, Any]:
    """Annotations evaluated (``from __future__ import annotations`` stores text); one that
    cannot be evaluated stays text, and is then treated as unannotated when parsing."""
    try:
        return typing.get_type_hints(function)
    except Exception:  # a name imported only for type checking
        namespace = getattr(function, "__globals__", {})
        hints = {}
        for name, text in getattr(function, "__annotations__", {}).items():
            try:
                hints[name] = eval(text, namespace) if isinstance(text, str) else text
            except Exception:
                hints[name] = text
        return hints


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
    if origin in _SEQUENCES or annotation in _SEQUENCES:
        return _sequence(value, origin or annotation, args)
    if annotation in (bool, int, float, str):
        return _scalar(value, annotation)
    if isinstance(annotation, type) and isinstance(value, annotation):
        return value
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
    if _homogeneous(args):
        converted = [_convert(item, args[0]) for item in items]
    elif args:
        if len(items) != len(args):
            raise _Mismatch
        converted = [_convert(item, arg) for item, arg in zip(items, args, strict=True)]
    else:
        converted = items
    return converted if origin is list else tuple(converted)


def _homogeneous(args: tuple[Any, ...]) -> bool:
    """``tuple[int, ...]`` or ``list[int]``: any number of items of one type."""
    return len(args) == 1 or len(args) == 2 and args[1] is Ellipsis


def _unknown_parameter(what: str, key: str, valid: set[str]) -> str:
    message = f"{what}: unknown parameter {key!r}"
    matches = closest(key, valid)
    message += f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else "."
    if valid:
        return message + f" Valid parameters: {', '.join(sorted(valid))}"
    return message + " It takes no parameters."
