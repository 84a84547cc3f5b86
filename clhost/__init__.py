"""clhost: continual learning for PyTorch, built as a plugin ecosystem.

Importing ``clhost`` is cheap: torch-backed names load on first access, so the CLI can
list plugins without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from clhost._markers import hookimpl, hookspec

__version__ = "0.1.0"

_LAZY = {
    "BaseTemplate": "clhost.templates",
    "BaseSGDTemplate": "clhost.templates",
    "SupervisedTemplate": "clhost.templates",
    "OnlineSupervisedTemplate": "clhost.templates",
    "SupervisedMetaLearningTemplate": "clhost.templates",
    "TrainResult": "clhost.templates",
    "BasePlugin": "clhost.plugin",
    "BaseSGDPlugin": "clhost.plugin",
    "SupervisedPlugin": "clhost.plugin",
    "SupervisedMetaLearningPlugin": "clhost.plugin",
    "Experience": "clhost.data",
    "Stream": "clhost.data",
    "Benchmark": "clhost.data",
    "TensorData": "clhost.data",
    "EvaluationPlugin": "clhost.evaluation",
    "EvalResult": "clhost.evaluation",
}

__all__ = ["__version__", "hookimpl", "hookspec", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'clhost' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
