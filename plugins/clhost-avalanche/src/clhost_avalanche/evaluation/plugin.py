"""Avalanche's ``EvaluationPlugin``: runs the metrics, keeps their last values, feeds loggers.

It is the strategy's evaluator (clhost runs it after every user plugin); ``train()`` and
``eval()`` of the layer's strategies return ``get_last_metrics()``: every metric's last
value under Avalanche's key, training ones included, as Avalanche returns them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clhost_avalanche._exports import not_supported
from clhost_avalanche.core import BASE_CALLBACKS, SGD_CALLBACKS
from clhost_avalanche.evaluation.base import MetricValue
from clhost_avalanche.evaluation.metrics import accuracy_metrics, loss_metrics

Curves = dict[str, tuple[list[int], list[Any]]]


class EvaluationPlugin:
    """Collects ``metrics`` (metric objects or lists of them) and sends them to
    ``loggers`` (a logger, a list, or a callable returning a list)."""

    def __init__(
        self,
        *metrics: Any,
        loggers: Any = None,
        collect_all: bool = True,
        strict_checks: bool = False,
    ):
        if strict_checks:
            raise not_supported(
                "EvaluationPlugin(strict_checks=True)", "evaluate the whole stream yourself"
            )
        self.metrics = [
            m for group in metrics for m in (group if isinstance(group, Sequence) else [group])
        ]
        if loggers is None:
            loggers = []
        elif callable(loggers) and not hasattr(loggers, "log_metrics"):
            loggers = loggers()
        elif not isinstance(loggers, Sequence):
            loggers = [loggers]
        self.loggers = list(loggers)
        self.collect_all = collect_all
        self.last_metric_results: dict[str, Any] = {}
        self.all_metric_results: Curves = {}
        self.active = True
        self.last_eval_stream = ""
        self._pending: list[MetricValue] = []

    def publish_metric_value(self, metric_value: MetricValue) -> None:
        """Record ``metric_value`` and queue it for the loggers."""
        self._pending.append(metric_value)
        self.last_metric_results[metric_value.name] = metric_value.value
        if self.collect_all:
            xs, values = self.all_metric_results.setdefault(metric_value.name, ([], []))
            xs.append(metric_value.x_plot)
            values.append(metric_value.value)

    def get_last_metrics(self) -> dict[str, Any]:
        """Every metric's last value under its full name (a copy)."""
        return dict(self.last_metric_results)

    def get_all_metrics(self) -> Curves:
        """Every value of every metric as ``(x values, values)`` (with ``collect_all``)."""
        return {name: (list(xs), list(vs)) for name, (xs, vs) in self.all_metric_results.items()}

    def reset_last_metrics(self) -> None:
        self.last_metric_results = {}

    def stream_metrics(self) -> dict[str, Any]:
        """The last values of the stream-level metrics of the last evaluated stream under
        their short name (``Top1_Acc_Stream``), for plugins that name a metric so."""
        marker = f"/eval_phase/{self.last_eval_stream}_stream"
        return {
            key.split("/")[0]: value
            for key, value in self.last_metric_results.items()
            if marker in key and "/Exp" not in key
        }

    def _callback(self, callback: str, strategy: Any) -> None:
        if not self.active:
            return
        if callback == "after_eval":
            self.last_eval_stream = strategy.experience.origin_stream
        for metric in self.metrics:
            produced = getattr(metric, callback, None)
            results = produced(strategy) if produced is not None else None
            for result in results or ():
                self.publish_metric_value(result)
        pending, self._pending = self._pending, []
        for logger in self.loggers:
            logger.log_metrics(pending)
            handler = getattr(logger, callback, None)
            if handler is not None:
                handler(strategy, pending)


for _callback in (*BASE_CALLBACKS, *SGD_CALLBACKS):
    setattr(
        EvaluationPlugin,
        _callback,
        lambda self, strategy, _name=_callback: self._callback(_name, strategy),
    )

CALLBACKS_USED = (*BASE_CALLBACKS, *SGD_CALLBACKS)


def _default_loggers() -> list[Any]:
    from clhost_avalanche.logging import InteractiveLogger

    return [InteractiveLogger()]


def default_evaluator() -> EvaluationPlugin:
    """Avalanche's default: epoch/experience/stream accuracy and loss, interactive logging."""
    return EvaluationPlugin(
        accuracy_metrics(epoch=True, experience=True, stream=True),
        loss_metrics(epoch=True, experience=True, stream=True),
        loggers=_default_loggers,
    )
