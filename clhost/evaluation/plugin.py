"""The evaluation plugin: accumulates loss and accuracy and builds the accuracy matrix."""

from __future__ import annotations

from typing import Any

import torch

from clhost._markers import hookimpl
from clhost.evaluation.results import EvalResult
from clhost.plugin import BaseSGDPlugin


class EvaluationPlugin(BaseSGDPlugin):
    """Computes metrics for every template that fires the SGD loop hooks.

    ``accuracy_matrix[stream][i][j]`` is the accuracy on experience ``j`` of ``stream``
    after training on ``i + 1`` experiences (R[i][j] in the literature); evaluations
    before any training are kept apart in ``initial_accuracy`` (for forward transfer).
    Counts accumulate as tensors on the model's device, read once per experience.
    """

    name = "evaluator"

    def __init__(self) -> None:
        self.trained_experiences: list[int] = []
        self.accuracy_matrix: dict[str, list[list[float]]] = {}
        self.initial_accuracy: dict[str, list[float]] = {}
        self._train_totals: list[Any] = []
        self._eval_totals: list[Any] = []
        self._eval_per_exp: dict[int, dict[str, float]] = {}
        self._last_eval: EvalResult | None = None
        self._last_train: dict[str, float] = {}

    # -- training ---------------------------------------------------------------------

    @hookimpl
    def clhost_before_training_exp(self) -> None:
        self._train_totals = _zeros()

    @hookimpl
    def clhost_after_training_iteration(self, strategy: Any) -> None:
        _accumulate(self._train_totals, strategy)

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        self.trained_experiences.append(strategy.experience.current_experience)
        self._last_train = _summary(self._train_totals)

    def train_metrics(self) -> dict[str, float]:
        """Loss and accuracy over the last trained experience's minibatches."""
        return dict(self._last_train)

    # -- evaluation -------------------------------------------------------------------

    @hookimpl
    def clhost_before_eval(self) -> None:
        self._eval_per_exp = {}

    @hookimpl
    def clhost_before_eval_exp(self) -> None:
        self._eval_totals = _zeros()

    @hookimpl
    def clhost_after_eval_iteration(self, strategy: Any) -> None:
        _accumulate(self._eval_totals, strategy)

    @hookimpl
    def clhost_after_eval_exp(self, strategy: Any) -> None:
        self._eval_per_exp[strategy.experience.current_experience] = _summary(self._eval_totals)
        self._eval_stream = strategy.experience.origin_stream

    @hookimpl
    def clhost_after_eval(self) -> None:
        per_exp = self._eval_per_exp
        metrics = {
            "accuracy": _mean(m["accuracy"] for m in per_exp.values()),
            "loss": _mean(m["loss"] for m in per_exp.values()),
        }
        stream = getattr(self, "_eval_stream", "")
        self._last_eval = EvalResult(stream, dict(per_exp), metrics)
        self._record_row(stream, per_exp)

    def last_eval_result(self) -> EvalResult:
        if self._last_eval is None:
            raise RuntimeError("no evaluation has run yet")
        return self._last_eval

    def _record_row(self, stream: str, per_exp: dict[int, dict[str, float]]) -> None:
        """Write the evaluated accuracies in the row of the experiences trained so far."""
        if not per_exp:
            return
        width = max(max(per_exp) + 1, len(self.initial_accuracy.get(stream, ())))
        if not self.trained_experiences:
            row = self.initial_accuracy.setdefault(stream, [])
        else:
            rows = self.accuracy_matrix.setdefault(stream, [])
            while len(rows) < len(self.trained_experiences):
                rows.append([])
            row = rows[len(self.trained_experiences) - 1]
        row.extend([float("nan")] * (width - len(row)))
        for index, values in per_exp.items():
            row[index] = values["accuracy"]

    # -- state --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "trained_experiences": list(self.trained_experiences),
            "accuracy_matrix": {k: [list(r) for r in v] for k, v in self.accuracy_matrix.items()},
            "initial_accuracy": {k: list(v) for k, v in self.initial_accuracy.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trained_experiences = list(state["trained_experiences"])
        self.accuracy_matrix = {
            k: [list(r) for r in v] for k, v in state["accuracy_matrix"].items()
        }
        self.initial_accuracy = {k: list(v) for k, v in state["initial_accuracy"].items()}


def _zeros() -> list[Any]:
    return [0, 0, 0.0]  # correct, seen, summed loss (tensors once a batch arrives)


def _accumulate(totals: list[Any], strategy: Any) -> None:
    output, targets = strategy.mb_output, strategy.mb_y
    n = len(targets)
    totals[0] = totals[0] + (output.argmax(dim=1) == targets).sum()
    totals[1] += n
    totals[2] = totals[2] + strategy.loss.detach() * n


def _summary(totals: list[Any]) -> dict[str, float]:
    correct, seen, loss = totals
    if not seen:
        return {"accuracy": float("nan"), "loss": float("nan"), "samples": 0}
    return {
        "accuracy": float(correct) / seen,
        "loss": float(loss) / seen,
        "samples": seen,
    }


def _mean(values: Any) -> float:
    values = list(values)
    return float(torch.tensor(values).mean()) if values else float("nan")
