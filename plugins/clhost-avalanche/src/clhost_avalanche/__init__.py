"""Avalanche 0.6.0's public API mapped onto clhost: ``import clhost_avalanche as avalanche``
or ``python -m clhost_avalanche script.py`` (which resolves ``import avalanche`` here).

Every strategy is the native clhost one underneath; what is not mirrored fails at import
or attribute access with one line naming the clhost alternative
(``docs/migrating-from-avalanche.md`` lists every name).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.6.0"
"""The Avalanche API version this layer mirrors (scripts compare it)."""

SUBMODULES = ("benchmarks", "core", "evaluation", "logging", "models", "training")

__all__ = ["__version__", *SUBMODULES]


def __getattr__(name: str) -> Any:
    if name not in SUBMODULES:
        raise AttributeError(f"module 'avalanche' has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.{name}")


def __dir__() -> list[str]:
    return sorted(__all__)
