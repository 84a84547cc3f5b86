"""Metrics, results and loggers."""

from clhost.evaluation.plugin import EvaluationPlugin
from clhost.evaluation.results import EvalResult

__all__ = ["EvalResult", "EvaluationPlugin"]
