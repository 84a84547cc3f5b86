"""The JSON-lines logger: one strict JSON object per metric event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from clhost import validate
from clhost.evaluation import LineOutput, Logger, MetricEvent
from clhost.evaluation.loggers import APPEND, Every, granularity


class JSONLLogger(Logger):
    """Writes every metric event to ``path`` as one JSON object per line,
    ``MetricEvent.to_dict()``: ``seconds`` (wall-clock time since the run started),
    ``phase``, ``stream``, ``experience``, ``epoch``, ``trained``, ``iteration`` and
    ``metrics``, with ``nan`` (an undefined metric) as ``null`` so that every line is
    strict JSON. Each line is flushed as it comes, so a killed run leaves complete lines;
    ``mode="a"`` (a resumed run) appends. ``every`` is ``experience``, ``epoch`` or
    ``iteration``.
    """

    resume_keywords = APPEND

    def __init__(
        self,
        path: Path = Path("metrics.jsonl"),
        *,
        mode: Literal["w", "a"] = "w",
        every: Every = "epoch",
    ):
        self.path = validate.path("path", path)
        self.every = granularity(every)
        self._out = LineOutput(self.path, mode)

    def log(self, event: MetricEvent) -> None:
        self._out.write(json.dumps(event.to_dict(), allow_nan=False) + "\n")

    def close(self) -> None:
        self._out.close()
