"""``avalanche.evaluation``: metrics (``.metrics``) and the metric protocol."""

from clhost_avalanche.evaluation.base import Metric, MetricValue, PluginMetric

__all__ = ["Metric", "MetricValue", "PluginMetric"]
