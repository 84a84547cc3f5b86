"""Avalanche's metric protocol: plugin metrics answer callbacks with named values.

A metric implements the callbacks it needs (``after_eval_exp(strategy)`` ...) and
returns ``MetricValue``s, or nothing; ``metric_name`` composes Avalanche's keys,
``Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp000``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clhost_avalanche.core import CALLBACKS, BasePlugin


@dataclass
class MetricValue:
    """One value a metric emits: its metric, full name, value and x (train iterations)."""

    origin: Any
    name: str
    value: Any
    x_plot: int


class Metric:
    """Avalanche's standalone metric protocol: ``update``, ``result`` and ``reset``."""

    def result(self) -> Any:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError


class PluginMetric(Metric, BasePlugin):
    """A metric driven by the strategy's callbacks (every callback does nothing here)."""


def is_eval(strategy: Any) -> bool:
    """Avalanche's ``strategy.is_eval``: the strategy is evaluating, not training."""
    return not strategy.is_training


def metric_name(
    metric: object, strategy: Any, *, add_experience: bool = False, add_task: bool | int = True
) -> str:
    """Avalanche's key: ``name/phase_phase/stream_stream[/TaskNNN][/ExpNNN]``; the task is
    the experience's single task label (none when it has several)."""
    experience = strategy.experience
    parts = [str(metric), f"{'eval' if is_eval(strategy) else 'train'}_phase"]
    parts.append(f"{experience.origin_stream}_stream")
    task: int | None
    if add_task is True:
        labels = experience.task_labels
        task = int(labels[0]) if len(labels) == 1 else None
    else:
        task = None if add_task is False else int(add_task)
    if task is not None:
        parts.append(f"Task{task:03}")
    if add_experience:
        parts.append(f"Exp{experience.current_experience:03}")
    return "/".join(parts)


def stream_name(metric: object, strategy: Any) -> str:
    """Avalanche's key of a stream-level value without task: ``name/phase/stream``."""
    return metric_name(metric, strategy, add_task=False)


def value(metric: object, strategy: Any, name: str, result: Any) -> list[MetricValue]:
    return [MetricValue(metric, name, result, strategy.clock.train_iterations)]


__all__ = ["CALLBACKS", "Metric", "MetricValue", "PluginMetric", "metric_name"]
