"""Metrics, results and loggers."""

from clhost.evaluation.loggers import (
    LineOutput,
    Logger,
    MetricEvent,
    ProgressLogger,
    TextLogger,
)
from clhost.evaluation.plugin import BaseEvaluationPlugin, EvaluationPlugin, evaluator_for
from clhost.evaluation.results import EvalResult

__all__ = [
    "BaseEvaluationPlugin",
    "EvalResult",
    "EvaluationPlugin",
    "LineOutput",
    "Logger",
    "MetricEvent",
    "ProgressLogger",
    "TextLogger",
    "evaluator_for",
]
