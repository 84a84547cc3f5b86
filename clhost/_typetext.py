"""How an annotation reads to a user: in ``clhost info`` and in parameter errors."""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import Any, Literal, Union

SEQUENCES = (tuple, list, collections.abc.Sequence, typing.Sequence)


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
    if origin in SEQUENCES:
        if homogeneous(args):
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


def homogeneous(args: tuple[Any, ...]) -> bool:
    """``tuple[int, ...]`` or ``list[int]``: any number of items of one type."""
    return len(args) == 1 or len(args) == 2 and args[1] is Ellipsis
