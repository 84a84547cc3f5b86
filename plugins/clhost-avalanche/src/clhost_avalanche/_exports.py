"""Lazy re-exports: each Avalanche name resolves to the clhost object it maps onto.

A mirrored module lists ``EXPORTS`` (Avalanche name -> ``"module:attribute"``) and
``UNSUPPORTED`` (Avalanche name -> the clhost alternative); ``lazy_module`` gives it the
module ``__getattr__``/``__dir__`` that import a name's target on first access, raise
``NotSupported`` (one line, an ``ImportError`` so ``from avalanche.x import Y`` shows it)
for an unsupported name, and ``AttributeError`` with the closest matches otherwise.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from clhost.errors import ClhostError, closest

DOCS = "docs/migrating-from-avalanche.md"


class NotSupported(ClhostError, ImportError):
    """An Avalanche feature the drop-in layer does not provide."""


def not_supported(feature: str, alternative: str) -> NotSupported:
    """The one-line error for ``feature``, naming what to use in clhost instead."""
    return NotSupported(
        f"Avalanche's {feature} is not supported by clhost-avalanche: {alternative}"
    )


def resolve(target: str) -> Any:
    """The object ``"module:attribute"`` names."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def lazy_module(
    namespace: dict[str, Any],
    exports: Mapping[str, str],
    unsupported: Mapping[str, str] = {},
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the module whose globals are ``namespace``."""
    module = namespace["__name__"]
    avalanche_name = "avalanche" + module.removeprefix("clhost_avalanche")

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = namespace[name] = resolve(exports[name])
            return value
        if name in unsupported:
            raise not_supported(f"{avalanche_name}.{name}", unsupported[name])
        known = [*exports, *namespace.get("__all__", ())]
        hints = closest(name, known, n=3)
        hint = f"; did you mean {', '.join(hints)}?" if hints else f" (see {DOCS})"
        raise AttributeError(f"module {avalanche_name!r} has no attribute {name!r}{hint}")

    def __dir__() -> list[str]:
        return sorted({*exports, *namespace.get("__all__", ())})

    return __getattr__, __dir__
