"""The keyword parameters a callable accepts, with their resolved annotations and defaults.

``clhost info`` shows them, ``clhost check`` inspects them and ``clhost run`` binds
``key=value`` text to them (``clhost._convert``). A class's parameters include those its
``__init__`` forwards to its bases through ``**kwargs`` (a strategy passes template
options up).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from clhost._typetext import annotation_text
from clhost.errors import ParameterError

EMPTY = inspect.Parameter.empty


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
        if not self.required:  # a path as its text, as it is given
            default = str(self.default) if isinstance(self.default, PurePath) else self.default
            text += f" = {default!r}"
        return text


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
