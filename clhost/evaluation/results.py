"""Structured results returned by ``eval()`` and kept by the evaluation plugin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor


@dataclass
class EvalResult:
    """Metrics of one ``eval()`` call: per evaluated experience, then stream-wide.

    ``metrics["accuracy"]``/``["loss"]`` average the experiences (each weighs the same,
    as in the average accuracy of the literature); ``accuracy_pooled``/``loss_pooled``
    pool all samples. ``confusion_matrices`` is filled when the evaluator asks for it.
    """

    stream: str
    per_experience: dict[int, dict[str, float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    confusion_matrices: dict[int, Tensor] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.metrics.get("accuracy", float("nan"))

    @classmethod
    def empty(cls, experiences: Sequence[Any]) -> EvalResult:
        stream = experiences[0].origin_stream if experiences else ""
        return cls(stream=stream)

    def to_dict(self) -> dict[str, Any]:
        result = {
            "stream": self.stream,
            "per_experience": {str(k): v for k, v in self.per_experience.items()},
            "metrics": dict(self.metrics),
        }
        if self.confusion_matrices:
            result["confusion_matrices"] = {
                str(k): m.tolist() for k, m in self.confusion_matrices.items()
            }
        return result
