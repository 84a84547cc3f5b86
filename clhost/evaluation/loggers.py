"""Loggers: where metric events go. The contract (``Logger``, ``MetricEvent``) and the two
loggers a run needs with nothing installed (readable text, a progress bar); the others
(CSV, JSON lines, TensorBoard, W&B, MLflow) are distributions registered in the
``clhost.loggers`` entry-point group.

The ``EvaluationPlugin`` emits one ``MetricEvent`` after each training experience, after
each evaluated experience and after each evaluation of a stream, and, to loggers that ask
for them (``Logger.every``), after each training epoch and iteration; ``run_experiment``
adds a ``run`` event with the final metrics. Loggers writing files flush after every
event, so a run that is killed leaves complete records behind, and close in ``close()``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, ClassVar, Literal, TextIO

from clhost.errors import ParameterError
from clhost.validate import one_of

TRAIN_ITERATION = "train_iteration"
TRAIN_EPOCH = "train_epoch"
TRAIN_EXPERIENCE = "train_exp"
EVAL_EXPERIENCE = "eval_exp"
EVAL_STREAM = "eval_stream"
RUN = "run"
# the resume_keywords of a logger whose mode="a" appends to its file (a LineOutput's)
APPEND: Mapping[str, Any] = MappingProxyType({"mode": "a"})

Every = Literal["experience", "epoch", "iteration"]
# what each ``Logger.every`` receives besides the experience, stream and run events
_DETAIL: dict[str, tuple[str, ...]] = {
    "experience": (),
    "epoch": (TRAIN_EPOCH,),
    "iteration": (TRAIN_EPOCH, TRAIN_ITERATION),
}


@dataclass(frozen=True)
class MetricEvent:
    """Metrics measured at one point of a run.

    ``phase`` is ``train_iteration``, ``train_epoch``, ``train_exp``, ``eval_exp``,
    ``eval_stream`` or ``run``; ``experience`` the experience measured or trained on
    (``None`` for stream and run events); ``trained`` how many train experiences were
    complete; ``iteration`` the global training iterations done (an iteration event
    counts its own); ``epoch`` the epoch within the experience (epoch and iteration
    events); ``seconds`` the wall-clock seconds since the evaluator started (its first
    train or eval call in this process), which the evaluator stamps on events that come
    without them.
    """

    phase: str
    metrics: dict[str, float]
    stream: str = ""
    experience: int | None = None
    trained: int = 0
    iteration: int = 0
    epoch: int | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``nan`` becomes ``None``."""
        return {
            "seconds": self.seconds,
            "phase": self.phase,
            "stream": self.stream,
            "experience": self.experience,
            "epoch": self.epoch,
            "trained": self.trained,
            "iteration": self.iteration,
            "metrics": json_ready(self.metrics),
        }

    def scalars(self) -> dict[str, float]:
        """The metrics under names that say where they were measured, for the loggers that
        keep one series per name (TensorBoard, W&B, MLflow): ``train_epoch/loss``,
        ``eval_exp/test/exp_1/accuracy``, ``eval_stream/test/accuracy``,
        ``run/forgetting``; values as floats (``nan`` stays ``nan``)."""
        if self.phase == RUN:
            prefix = RUN
        elif self.phase == EVAL_EXPERIENCE:
            prefix = f"{self.phase}/{self.stream}/exp_{self.experience}"
        elif self.phase == EVAL_STREAM:
            prefix = f"{self.phase}/{self.stream}"
        else:  # training: one series over the whole run, whatever the experience
            prefix = self.phase
        return {f"{prefix}/{name}": float(value) for name, value in self.metrics.items()}


class Logger:
    """The base of every logger: each method is a no-op unless a subclass needs it.

    ``shows_progress`` asks the evaluator for ``start_progress``/``advance``/
    ``end_progress`` calls on long work (training and evaluating one experience); it is
    read when the logger is attached, so loggers without it cost nothing per iteration.

    ``every`` says how fine-grained the events it receives are: ``experience`` (the
    experience, stream and run events), ``epoch`` (also one ``train_epoch`` event per
    training epoch) or ``iteration`` (also one ``train_iteration`` event per minibatch);
    finer events are only measured when a logger asks for them.

    ``resume_keywords`` are the keywords ``clhost run --resume`` gives the logger (unless
    given explicitly) so that it goes on where the interrupted run stopped, e.g.
    ``{"mode": "a"}`` for a file appended to; none by default, for a logger that cannot go
    on and starts afresh (a tracker's new run). Declared, never guessed from a parameter's
    name: a ``mode`` may mean something else (W&B's online/offline).
    """

    shows_progress: bool = False
    every: Every = "experience"
    resume_keywords: ClassVar[Mapping[str, Any]] = {}

    def receives(self, phase: str) -> bool:
        """Whether events of ``phase`` are sent to this logger (by ``every``)."""
        return phase not in (TRAIN_EPOCH, TRAIN_ITERATION) or phase in _DETAIL[self.every]

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


def granularity(every: Any) -> Every:
    """``every`` checked: one of ``experience``, ``epoch``, ``iteration``."""
    return one_of("every", every, tuple(_DETAIL))


class LineOutput:
    """A text stream a logger writes to: a file it opened (and closes) or one it was given.

    Every ``write`` is flushed, so a killed run leaves whole lines; ``had_content`` says
    that an appended file already held lines (a resumed run: no second header).
    """

    def __init__(self, target: str | Path | IO[str] | None, mode: Literal["w", "a"]):
        one_of("mode", mode, ("w", "a"))
        if target is None:
            target = sys.stdout
        if isinstance(target, (str, Path)):
            path = Path(target)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.had_content = mode == "a" and path.exists() and path.stat().st_size > 0
                self.stream: IO[str] | None = open(path, mode, encoding="utf-8", newline="")
            except OSError as error:  # a user's path: one clear error, not a traceback
                raise ParameterError(f"cannot write {path}: {error.strerror or error}") from None
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
    """One readable line per event, e.g. ``eval test exp 1 after 2: accuracy=0.9722 ...``,
    on standard output or in a file (``stream`` a path)."""

    resume_keywords = APPEND

    def __init__(
        self,
        stream: str | Path | IO[str] | None = None,
        *,
        mode: Literal["w", "a"] = "w",
        every: Every = "experience",
    ):
        self.every = granularity(every)
        self._out = LineOutput(stream, mode)

    def log(self, event: MetricEvent) -> None:
        self._out.write(format_event(event) + "\n")

    def close(self) -> None:
        self._out.close()


def format_event(event: MetricEvent) -> str:
    """The line ``TextLogger`` writes for ``event``."""
    values = " ".join(f"{name}={_format_value(v)}" for name, v in event.metrics.items())
    if event.phase == TRAIN_ITERATION:
        where = f"train {event.stream} exp {event.experience} iteration {event.iteration}"
    elif event.phase == TRAIN_EPOCH:
        where = f"train {event.stream} exp {event.experience} epoch {event.epoch}"
    elif event.phase == TRAIN_EXPERIENCE:
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
