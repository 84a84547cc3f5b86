"""The plots of ``clhost report``, as PNG and SVG: an accuracy-matrix heatmap per run,
the accuracy after each experience per configuration with a confidence band, and final
accuracy against training time across configurations.

Needs matplotlib (the ``plots`` extra: ``pip install 'clhost[plots]'``); importing this
module without it raises ``ImportError``. Figures are drawn without pyplot, so nothing
global (backend, open windows) changes.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from clhost._atomic import atomic_write
from clhost.evaluation.aggregate import CONFIDENCE, Estimate, aggregate

FORMATS = ("png", "svg")
HEATMAPS = "heatmaps"


def plot_all(rows: Sequence[Mapping[str, Any]], directory: str | Path) -> list[Path]:
    """Every plot of ``rows`` (``clhost.sweep`` rows) under ``directory``."""
    directory = Path(directory)
    written = []
    for entry in rows:
        name = re.sub(r"[^A-Za-z0-9._=+-]", "-", str(entry["run"]))
        written += save(heatmap(entry), directory / HEATMAPS / name)
    written += save(curves(rows), directory / "curves")
    written += save(cost(rows), directory / "cost")
    return written


def save(figure: Figure, stem: Path) -> list[Path]:
    """``stem.png`` and ``stem.svg``, each written atomically."""
    paths = []
    for suffix in FORMATS:
        data = io.BytesIO()
        figure.savefig(data, format=suffix, metadata={"Date": None} if suffix == "svg" else {})
        paths.append(atomic_write(stem.with_name(f"{stem.name}.{suffix}"), _writer(data)))
    return paths


def _writer(data: io.BytesIO) -> Callable[[BinaryIO], object]:
    return lambda file: file.write(data.getvalue())


def heatmap(entry: Mapping[str, Any]) -> Figure:
    """``R[i][j]``, accuracy on test experience ``j`` after training experience ``i``."""
    matrix = [[math.nan if v is None else v for v in r] for r in entry["accuracy_matrix"]]
    rows, columns = len(matrix), len(matrix[0]) if matrix else 0
    figure = Figure(figsize=(1.2 + 0.6 * columns, 1.0 + 0.5 * rows), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(matrix, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i, values in enumerate(matrix):
        for j, value in enumerate(values):
            if not math.isnan(value):
                colour = "black" if value > 0.6 else "white"
                axes.text(j, i, f"{value:.2f}", ha="center", va="center", color=colour, size=8)
    axes.set_xticks(range(columns), [str(j) for j in range(columns)])
    axes.set_yticks(range(rows), [str(i) for i in range(rows)])
    axes.set_xlabel("test experience j")
    axes.set_ylabel("after training experience i")
    axes.set_title(str(entry["run"]), size=9)
    figure.colorbar(image, ax=axes, label="accuracy")
    return figure


def curves(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Average accuracy on the experiences seen so far, after each experience: the mean
    over each configuration's runs with its confidence band."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    for group in aggregate(rows):
        members = group.members
        length = max(len(r["accuracy_curve"]) for r in members)
        steps = [
            Estimate.of(r["accuracy_curve"][i] for r in members if i < len(r["accuracy_curve"]))
            for i in range(length)
        ]
        x = range(1, length + 1)
        (line,) = axes.plot(x, [s.mean for s in steps], marker="o", label=group.label)
        if group.runs > 1:
            low = [s.low if s.n > 1 else s.mean for s in steps]
            high = [s.high if s.n > 1 else s.mean for s in steps]
            axes.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("experiences trained")
    axes.set_ylabel("accuracy on the seen experiences")
    axes.set_title(f"mean over runs, {CONFIDENCE:.0%} confidence band", size=9)
    axes.set_ylim(0, 1)
    axes.legend(fontsize=8)
    return figure


def cost(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Final accuracy against training wall time, a point per configuration (the mean,
    with standard deviations as error bars)."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    seconds = []
    for group in aggregate(rows):
        time, accuracy = group.costs["train_seconds"], group.metrics["final_accuracy"]
        axes.errorbar(
            time.mean,
            accuracy.mean,
            xerr=_zero_if_nan(time.std),
            yerr=_zero_if_nan(accuracy.std),
            fmt="o",
            capsize=3,
            label=group.label,
        )
        axes.annotate(group.label, (time.mean, accuracy.mean), fontsize=7, xytext=(4, 4),
                      textcoords="offset points")  # fmt: skip
        seconds.append(time.mean)
    finite = [s for s in seconds if s > 0 and not math.isnan(s)]
    if finite and max(finite) / min(finite) > 10:
        axes.set_xscale("log")
    axes.set_xlabel("training wall time (s)")
    axes.set_ylabel("final accuracy")
    axes.set_ylim(0, 1)
    return figure


def _zero_if_nan(value: float) -> float:
    return 0.0 if math.isnan(value) else value
