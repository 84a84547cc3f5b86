"""Metrics, results and loggers."""

from clhost.evaluation.loggers import (
    CSVLogger,
    JSONLLogger,
    Logger,
    MetricEvent,
    ProgressLogger,
    TextLogger,
)
from clhost.evaluation.plugin import EvaluationPlugin
from clhost.evaluation.results import EvalResult

__all__ = [
    "CSVLogger",
    "EvalResult",
    "EvaluationPlugin",
    "JSONLLogger",
    "Logger",
    "MetricEvent",
    "ProgressLogger",
    "TextLogger",
]
