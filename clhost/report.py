"""Tables and plots from a finished run (``clhost run -o DIR``) or sweep (``clhost sweep
-o DIR``): ``clhost report DIR`` and ``report(DIR)``.

The tables need nothing beyond clhost; the plots need matplotlib (``pip install
'clhost[plots]'``) and are skipped with a note when it is missing.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clhost.errors import ParameterError
from clhost.sweep import PLAN_NAME, ROWS_NAME, PlannedRun, row, write_tables

REPORT_DIR = "report"
PLOTS_HINT = "Plots need matplotlib: pip install 'clhost[plots]'"


@dataclass
class Report:
    """What ``report`` wrote, and what it could not (``notes``)."""

    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_rows(directory: str | Path) -> tuple[list[dict[str, Any]], int]:
    """The rows of a sweep (``runs.jsonl``) or of a single run (``results.json``), and
    how many runs were planned (a sweep killed part-way has fewer rows)."""
    directory = Path(directory)
    planned = _planned(directory)
    if (directory / ROWS_NAME).exists():
        text = (directory / ROWS_NAME).read_text()
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        return rows, max(planned, len(rows))
    if (directory / "results.json").exists():
        return [row(_single_run(directory), directory)], 1
    if planned:
        raise ParameterError(
            f"{directory}: the sweep has written no {ROWS_NAME} yet; run the sweep again"
        )
    raise ParameterError(
        f"{directory} holds neither a run (results.json) nor a sweep ({ROWS_NAME}): give the "
        "--output of clhost run or clhost sweep"
    )


def report(
    directory: str | Path,
    output: str | Path | None = None,
    *,
    plots: bool = True,
    echo: Callable[[str], object] = print,
) -> Report:
    """Write the summary tables and, with matplotlib, the plots of the run or sweep in
    ``directory`` into ``output`` (default ``directory/report``)."""
    directory = Path(directory)
    rows, planned = read_rows(directory)
    target = Path(output) if output is not None else directory / REPORT_DIR
    done = Report(write_tables(rows, target))
    if len(rows) < planned:
        done.notes.append(f"{len(rows)} of {planned} runs are finished; the report covers those")
    if plots:
        try:
            plotting = importlib.import_module("clhost.plots")  # needs matplotlib
        except ImportError:
            done.notes.append(PLOTS_HINT)
        else:
            done.written += plotting.plot_all(rows, target)
    for note in done.notes:
        echo(note)
    return done


def _planned(directory: Path) -> int:
    path = directory / PLAN_NAME
    if not path.exists():
        return 0
    try:
        return len(json.loads(path.read_text())["runs"])
    except (ValueError, KeyError, TypeError) as error:
        raise ParameterError(f"{path}: not a sweep plan: {error}") from None


def _single_run(directory: Path) -> PlannedRun:
    """A ``clhost run`` output as a run of a sweep: its strategy and parameters as
    ``options.json`` names them (else the strategy's class name)."""
    from clhost.cli._options import SAVED_OPTIONS, RunOptions

    if (directory / SAVED_OPTIONS).exists():
        saved = json.loads((directory / SAVED_OPTIONS).read_text())
        strategy, params, seed = saved["strategy"], saved.get("params", {}), saved.get("seed", 0)
    else:
        strategy = json.loads((directory / "results.json").read_text())["strategy"]
        params, seed = {}, 0
    return PlannedRun(directory.resolve().name, RunOptions(), strategy, params, seed)
