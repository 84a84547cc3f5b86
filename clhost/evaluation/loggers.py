"""Loggers: where metric events go (readable text, a progress bar, CSV, JSON lines).

The ``EvaluationPlugin`` emits one ``MetricEvent`` after each training experience, after
each evaluated experience and after each evaluation of a stream; ``run_experiment`` adds
a ``run`` event with the final metrics. File loggers flush after every event, so a run
that is killed leaves complete lines behind, and close their files in ``close()``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TextIO

TRAIN_EXPERIENCE = "train_exp"
EVAL_EXPERIENCE = "eval_exp"
EVAL_STREAM = "eval_stream"
RUN = "run"


@dataclass(frozen=True)
class MetricEvent:
    """Metrics measured at one point of a run.

    ``phase`` is ``train_exp``, ``eval_exp``, ``eval_stream`` or ``run``; ``experience``
    the experience measured (``None`` for stream and run events); ``trained`` how many
    train experiences were complete; ``iteration`` the global training iteration.
    """

    phase: str
    metrics: dict[str, float]
    stream: str = ""
    experience: int | None = None
    trained: int = 0
    iteration: int = 0
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``nan`` becomes ``None``."""
        return {
            "time": self.time,
            "phase": self.phase,
            "stream": self.stream,
            "experience": self.experience,
            "trained": self.trained,
            "iteration": self.iteration,
            "metrics": json_ready(self.metrics),
        }


class Logger:
    """The base of every logger: each method is a no-op unless a subclass needs it.

    ``shows_progress`` asks the evaluator for ``start_progress``/``advance``/
    ``end_progress`` calls on long work (training and evaluating one experience); it is
    read when the logger is attached, so loggers without it cost nothing per iteration.
    """

    shows_progress: bool = False

    def log(self, event: MetricEvent) -> None:
        """Record one event."""

    def start_progress(self, label: str, total: int | None) -> None:
        """Long work of ``total`` steps (``None``: unknown) starts."""

    def advance(self, steps: int = 1) -> None:
        """``steps`` more steps of the current work are done."""

    def end_progress(self) -> None:
        """The current work is over (possibly before ``total`` steps)."""

    def close(self) -> None:
        """Release files; calling it twice is harmless."""

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Output:
    """A text stream a logger writes to: a file it opened (and closes) or one it was given."""

    def __init__(self, target: str | Path | IO[str] | None, mode: Literal["w", "a"]):
        if mode not in ("w", "a"):
            raise ValueError(f"mode must be 'w' or 'a', got {mode!r}")
        if target is None:
            target = sys.stdout
        if isinstance(target, (str, Path)):
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.had_content = mode == "a" and path.exists() and path.stat().st_size > 0
            self.stream: IO[str] | None = open(path, mode, encoding="utf-8", newline="")
            self.owned = True
        else:
            self.had_content = False
            self.stream, self.owned = target, False

    def write(self, text: str) -> None:
        if self.stream is None:
            raise ValueError("logger is closed")
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None and self.owned:
            self.stream.close()
        self.stream = None


class TextLogger(Logger):
    """One readable line per event, e.g. ``eval test exp 1 after 2: accuracy=0.9722 ...``."""

    def __init__(
        self, stream: str | Path | IO[str] | None = None, *, mode: Literal["w", "a"] = "w"
    ):
        self._out = _Output(stream, mode)

    def log(self, event: MetricEvent) -> None:
        self._out.write(format_event(event) + "\n")

    def close(self) -> None:
        self._out.close()


def format_event(event: MetricEvent) -> str:
    """The line ``TextLogger`` writes for ``event``."""
    values = " ".join(f"{name}={_format_value(v)}" for name, v in event.metrics.items())
    if event.phase == TRAIN_EXPERIENCE:
        where = f"train {event.stream} exp {event.experience}"
    elif event.phase == EVAL_EXPERIENCE:
        where = f"eval {event.stream} exp {event.experience} after {event.trained}"
    elif event.phase == EVAL_STREAM:
        where = f"eval {event.stream} stream after {event.trained}"
    else:
        where = f"{event.phase} after {event.trained}"
    return f"{where}: {values}"


def _format_value(value: float) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.4f}"


class CSVLogger(Logger):
    """One row per metric value: ``time,phase,stream,experience,trained,iteration,metric,value``.

    A long table keeps the same columns whatever metrics each event carries. With
    ``mode="a"`` (e.g. a resumed run) rows are appended and the header is not repeated.
    """

    COLUMNS = ("time", "phase", "stream", "experience", "trained", "iteration", "metric", "value")

    def __init__(self, target: str | Path | IO[str], *, mode: Literal["w", "a"] = "w"):
        self._out = _Output(target, mode)
        self._header_written = self._out.had_content

    def log(self, event: MetricEvent) -> None:
        rows: list[tuple[Any, ...]] = []
        if not self._header_written:
            rows.append(self.COLUMNS)
            self._header_written = True
        experience = "" if event.experience is None else event.experience
        where = (f"{event.time:.6f}", event.phase, event.stream, experience, event.trained)
        for name, value in event.metrics.items():
            rows.append((*where, event.iteration, name, value))
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        self._out.write(text.getvalue())

    def close(self) -> None:
        self._out.close()


class JSONLLogger(Logger):
    """One JSON object per event (``MetricEvent.to_dict()``), ``nan`` written as ``null``."""

    def __init__(self, target: str | Path | IO[str], *, mode: Literal["w", "a"] = "w"):
        self._out = _Output(target, mode)

    def log(self, event: MetricEvent) -> None:
        self._out.write(json.dumps(event.to_dict(), allow_nan=False) + "\n")

    def close(self) -> None:
        self._out.close()


# back to the start of the line and erase it
ERASE_LINE = "\r\033[K"


class ProgressLogger(Logger):
    """A progress bar over each experience trained or evaluated.

    Only drawn on an interactive terminal: on anything else (a file, a pipe, CI logs) it
    is disabled and costs nothing, unless ``enabled=True`` forces it, which writes one
    finished line per bar instead of redrawing.
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = _is_terminal(self.stream)
        self.shows_progress = enabled
        self._bar: _Bar | None = None

    def start_progress(self, label: str, total: int | None) -> None:
        self.end_progress()
        if self.shows_progress and total:
            self._bar = _Bar(self.stream, label, total, redraw=_is_terminal(self.stream))

    def advance(self, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(steps)

    def end_progress(self) -> None:
        """Erase a finished bar on a terminal (a run has dozens of phases: their bars
        must not pile up); elsewhere write its last state as one line."""
        if self._bar is None:
            return
        bar, self._bar = self._bar, None
        self.stream.write(ERASE_LINE if bar.redraw else bar.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.end_progress()


class _Bar:
    """``label  [#####-----]   42%`` on one line, redrawn in place about every percent."""

    WIDTH = 36

    def __init__(self, stream: TextIO, label: str, total: int, *, redraw: bool):
        self.stream, self.label, self.total, self.redraw = stream, label, total, redraw
        self.done = self._drawn = 0
        self._step = max(1, total // 100)
        self._draw()

    def advance(self, steps: int) -> None:
        self.done = min(self.total, self.done + steps)
        if self.done - self._drawn >= self._step or self.done == self.total:
            self._draw()

    def line(self) -> str:
        filled = self.WIDTH * self.done // self.total
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        return f"{self.label}  [{bar}]  {100 * self.done // self.total:3d}%"

    def _draw(self) -> None:
        self._drawn = self.done
        if self.redraw:
            self.stream.write("\r" + self.line())
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def json_ready(value: Any) -> Any:
    """``value`` with ``nan`` and infinities (undefined metrics) replaced by ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


@contextmanager
def closing_all(loggers: list[Logger]) -> Iterator[list[Logger]]:
    """Close every logger on exit, even if one of them fails to close; a failure to close
    is raised only when the block itself succeeded, so it never hides the block's error."""
    errors: list[Exception] = []
    try:
        yield loggers
    finally:
        for logger in loggers:
            try:
                logger.close()
            except Exception as error:  # close the others first
                errors.append(error)
    if errors:
        raise errors[0]
