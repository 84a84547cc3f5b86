"""Structured results returned by ``eval()`` and kept by the evaluation plugin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class EvalResult:
    """Metrics of one ``eval()`` call: per evaluated experience, then stream-wide."""

    stream: str
    per_experience: dict[int, dict[str, float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.metrics.get("accuracy", float("nan"))

    @classmethod
    def empty(cls, experiences: Sequence[Any]) -> EvalResult:
        stream = experiences[0].origin_stream if experiences else ""
        return cls(stream=stream)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "per_experience": {str(k): v for k, v in self.per_experience.items()},
            "metrics": dict(self.metrics),
        }
