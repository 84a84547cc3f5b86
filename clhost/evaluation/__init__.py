"""Metrics, results and loggers."""

from clhost.evaluation.loggers import (
    CSVLogger,
    JSONLLogger,
    Logger,
    MetricEvent,
    ProgressLogger,
    TextLogger,
)
from clhost.evaluation.plugin import BaseEvaluationPlugin, EvaluationPlugin, evaluator_for
from clhost.evaluation.results import EvalResult

__all__ = [
    "BaseEvaluationPlugin",
    "CSVLogger",
    "EvalResult",
    "EvaluationPlugin",
    "JSONLLogger",
    "Logger",
    "MetricEvent",
    "ProgressLogger",
    "TextLogger",
    "evaluator_for",
]
