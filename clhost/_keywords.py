"""Keyword-only construction with helpful errors (Avalanche #1114)."""

from __future__ import annotations

import functools
import inspect

from clhost.deprecation import renamed_keywords
from clhost.errors import closest


@functools.cache
def accepted_keywords(cls: type) -> frozenset[str]:
    """Every keyword ``cls(...)`` accepts, following ``**kwargs`` up the MRO (old names
    kept by ``clhost.deprecation.renamed`` included)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        names.update(
            p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        )
        names.update(renamed_keywords(init))
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    names.discard("self")
    return frozenset(names)


def check_keywords(cls: type, args: tuple, kwargs: dict) -> None:
    """Raise ``TypeError`` naming the valid keywords when a call cannot be right."""
    if args:
        raise TypeError(f"{cls.__name__}() takes keyword arguments only, e.g. model=...")
    valid = accepted_keywords(cls)
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        hints = [match for name in unknown for match in closest(name, valid, n=1)]
        message = f"{cls.__name__}() got unknown keyword(s) {', '.join(unknown)}"
        if hints:
            message += f"; did you mean {', '.join(hints)}?"
        raise TypeError(f"{message} Valid keywords: {', '.join(sorted(valid))}")
