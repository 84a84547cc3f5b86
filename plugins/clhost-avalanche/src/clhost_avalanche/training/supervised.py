"""``avalanche.training.supervised``: the strategies, as ``avalanche.training`` has them."""

from __future__ import annotations

from typing import Any

from clhost_avalanche import training

__all__ = list(training.STRATEGIES)


def __getattr__(name: str) -> Any:
    return getattr(training, name)


def __dir__() -> list[str]:
    return sorted(__all__)
