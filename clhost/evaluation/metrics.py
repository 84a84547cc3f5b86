"""Continual-learning metrics as pure functions of an accuracy matrix.

``R[i][j]`` is the accuracy on test experience ``j`` after training on train experiences
``0..i``; ``T = len(R)`` rows (experiences trained), ``N = len(R[0])`` columns (test
experiences). Test experience ``j`` is assumed to hold the classes of train experience
``j``. A metric that has nothing to average over (e.g. forgetting after one experience)
is ``nan``: "undefined", never a misleading 0. ``nan`` entries mark experiences that were
not evaluated: the maximum in forgetting skips them; any other ``nan`` a metric needs
makes that metric ``nan``. Definitions with formulas: ``docs/metrics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

NAN = float("nan")

Matrix = Sequence[Sequence[float]]


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; ``nan`` for no values (and whenever a value is ``nan``)."""
    return math.fsum(values) / len(values) if values else NAN


def as_matrix(matrix: Matrix) -> list[list[float]]:
    """A copy of ``matrix`` as floats, checked to be rectangular."""
    rows = [[float(value) for value in row] for row in matrix]
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise ValueError(f"accuracy matrix rows differ in length: {sorted(widths)}")
    return rows


def average_accuracy(matrix: Matrix, *, seen_only: bool = False) -> float:
    """Mean of the last row: accuracy over the test stream after the last experience.

    ``seen_only`` averages over the test experiences trained so far (``j < T``) only.
    """
    rows = as_matrix(matrix)
    if not rows:
        return NAN
    last = rows[-1]
    return mean(last[: len(rows)] if seen_only else last)


def average_accuracy_curve(matrix: Matrix, *, seen_only: bool = True) -> list[float]:
    """The average accuracy after each experience (row means; seen columns by default)."""
    rows = as_matrix(matrix)
    return [mean(row[: i + 1] if seen_only else row) for i, row in enumerate(rows)]


def forgetting_per_experience(matrix: Matrix) -> list[float]:
    """For each ``j < T-1``: ``max_{l < T-1} R[l][j] - R[T-1][j]`` (Chaudhry et al. 2018)."""
    rows = as_matrix(matrix)
    last = len(rows) - 1
    return [
        _max([rows[earlier][j] for earlier in range(last)]) - rows[last][j]
        for j in range(min(last, _width(rows)))
    ]


def forgetting(matrix: Matrix) -> float:
    """Average forgetting after the last experience; ``nan`` with fewer than two rows."""
    return mean(forgetting_per_experience(matrix))


def backward_transfer_per_experience(matrix: Matrix) -> list[float]:
    """For each ``j < T-1``: ``R[T-1][j] - R[j][j]`` (Lopez-Paz & Ranzato 2017)."""
    rows = as_matrix(matrix)
    last = len(rows) - 1
    return [rows[last][j] - rows[j][j] for j in range(min(last, _width(rows)))]


def backward_transfer(matrix: Matrix) -> float:
    """BWT: negative when learning later experiences hurt earlier ones; ``nan`` if T < 2."""
    return mean(backward_transfer_per_experience(matrix))


def forward_transfer_per_experience(matrix: Matrix, initial: Sequence[float]) -> list[float]:
    """For each ``j > 0`` with a row ``j-1``: ``R[j-1][j] - b_j``, ``b`` = ``initial``.

    ``initial[j]`` is the accuracy on test experience ``j`` before any training.
    """
    rows = as_matrix(matrix)
    width = _width(rows)
    if len(initial) != width and rows:
        raise ValueError(f"initial accuracy has {len(initial)} values for {width} test experiences")
    return [rows[j - 1][j] - float(initial[j]) for j in range(1, min(len(rows) + 1, width))]


def forward_transfer(matrix: Matrix, initial: Sequence[float] | None) -> float:
    """FWT (Lopez-Paz & Ranzato 2017); ``nan`` without initial accuracies or a 2nd column."""
    if initial is None:
        return NAN
    return mean(forward_transfer_per_experience(matrix, initial))


def confusion_matrix(predictions: Tensor, targets: Tensor, n_classes: int) -> Tensor:
    """``C[t][p]``: how many samples of class ``t`` were predicted as ``p`` (int64)."""
    flat = targets.long() * n_classes + predictions.long()
    counts = torch.bincount(flat, minlength=n_classes * n_classes)
    return counts.view(n_classes, n_classes)


def _width(rows: list[list[float]]) -> int:
    return len(rows[0]) if rows else 0


def _max(values: list[float]) -> float:
    """The largest evaluated value: ``nan`` marks "not evaluated" and is skipped."""
    evaluated = [v for v in values if not math.isnan(v)]
    return max(evaluated) if evaluated else NAN
