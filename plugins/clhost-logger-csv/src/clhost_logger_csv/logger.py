"""The CSV logger: one row per metric value, in a table whose columns never change."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Literal

from clhost import validate
from clhost.evaluation import LineOutput, Logger, MetricEvent
from clhost.evaluation.loggers import APPEND, Every, granularity


class CSVLogger(Logger):
    """Writes every metric event to ``path`` as rows of
    ``seconds,phase,stream,experience,epoch,trained,iteration,metric,value``.

    A long table (one row per metric value) keeps the same columns whatever metrics each
    event carries, so a spreadsheet or ``pandas.read_csv`` reads it as is. ``seconds`` is
    the wall-clock time since the run started. Each event is flushed as it comes, so a
    killed run leaves complete rows; ``mode="a"`` (a resumed run) appends without a second
    header. ``every`` is ``experience``, ``epoch`` or ``iteration``.
    """

    resume_keywords = APPEND

    COLUMNS = (
        "seconds",
        "phase",
        "stream",
        "experience",
        "epoch",
        "trained",
        "iteration",
        "metric",
        "value",
    )

    def __init__(
        self,
        path: Path = Path("metrics.csv"),
        *,
        mode: Literal["w", "a"] = "w",
        every: Every = "epoch",
    ):
        self.path = validate.path("path", path)
        self.every = granularity(every)
        self._out = LineOutput(self.path, mode)
        self._header_written = self._out.had_content

    def log(self, event: MetricEvent) -> None:
        rows: list[tuple[Any, ...]] = []
        if not self._header_written:
            rows.append(self.COLUMNS)
            self._header_written = True
        where = (
            "" if event.seconds is None else f"{event.seconds:.6f}",
            event.phase,
            event.stream,
            _blank(event.experience),
            _blank(event.epoch),
            event.trained,
            event.iteration,
        )
        rows += [(*where, name, value) for name, value in event.metrics.items()]
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        self._out.write(text.getvalue())

    def close(self) -> None:
        self._out.close()


def _blank(value: int | None) -> int | str:
    return "" if value is None else value
