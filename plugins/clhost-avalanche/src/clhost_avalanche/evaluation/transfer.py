"""Forgetting, backward and forward transfer on evaluated experiences, as Avalanche keys them.

Forgetting of experience ``k``: its accuracy when evaluated right after training on
``k`` (the "initial" value) minus its accuracy in the latest evaluation; emitted per
evaluated experience once both exist (``ExperienceForgetting/.../Exp00k``) and, averaged
over the experiences of one ``eval()``, per stream (``StreamForgetting/eval_phase/
test_stream``, 0 when none has both). BWT is its negation. Forward transfer of ``k``:
its accuracy after training on ``k-1`` minus its accuracy in the first evaluation ever
(before training), which therefore needs ``eval_every >= 0``.
"""

from __future__ import annotations

from typing import Any

from clhost.errors import ParameterError
from clhost_avalanche.evaluation.base import (
    MetricValue,
    PluginMetric,
    metric_name,
    stream_name,
    value,
)
from clhost_avalanche.evaluation.running import ExperienceAccuracy

Values = list[MetricValue] | None


class _PerExperience(PluginMetric):
    """The accuracy of each evaluated experience, against the last trained one."""

    name = ""
    stream = False

    def __init__(self) -> None:
        self.accuracy = ExperienceAccuracy()
        self.trained: int | None = None
        self.values: dict[int, float] = {}

    def __str__(self) -> str:
        return self.name

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def result(self) -> float:
        return sum(self.values.values()) / len(self.values) if self.values else 0.0

    def before_training_exp(self, strategy: Any) -> None:
        self.trained = strategy.experience.current_experience

    def before_eval(self, strategy: Any) -> None:
        self.values = {}

    def before_eval_exp(self, strategy: Any) -> None:
        self.accuracy.reset()

    def after_eval_iteration(self, strategy: Any) -> None:
        self.accuracy.update(strategy)

    def after_eval_exp(self, strategy: Any) -> Values:
        index = strategy.experience.current_experience
        result = self.record(index, self.accuracy.result())
        if result is None:
            return None
        self.values[index] = result
        if self.stream:
            return None
        return value(self, strategy, metric_name(self, strategy, add_experience=True), result)

    def after_eval(self, strategy: Any) -> Values:
        return (
            value(self, strategy, stream_name(self, strategy), self.result())
            if self.stream
            else None
        )

    def record(self, index: int, accuracy: float) -> float | None:
        raise NotImplementedError


class _Forgetting(_PerExperience):
    sign = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.initial: dict[int, float] = {}

    def before_eval(self, strategy: Any) -> None:
        super().before_eval(strategy)
        self.last: dict[int, float] = {}

    def record(self, index: int, accuracy: float) -> float | None:
        if index == self.trained:
            self.initial[index] = accuracy
            return None
        if index not in self.initial:
            return None
        return self.sign * (self.initial[index] - accuracy)


class ExperienceForgetting(_Forgetting):
    name = "ExperienceForgetting"


class StreamForgetting(_Forgetting):
    name, stream = "StreamForgetting", True


class ExperienceBWT(_Forgetting):
    name, sign = "ExperienceBWT", -1.0


class StreamBWT(_Forgetting):
    name, sign, stream = "StreamBWT", -1.0, True


class _ForwardTransfer(_PerExperience):
    def __init__(self) -> None:
        super().__init__()
        self.at_init = True
        self.initial: dict[int, float] = {}
        self.previous: dict[int, float] = {}

    def record(self, index: int, accuracy: float) -> float | None:
        if self.at_init:
            self.initial[index] = accuracy
            return None
        if self.trained == index - 1:
            self.previous[index] = accuracy
        if index not in self.previous or index not in self.initial:
            return None
        return self.previous[index] - self.initial[index]

    def after_eval(self, strategy: Any) -> Values:
        if self.at_init and strategy.eval_every < 0:
            raise ParameterError(
                "forward_transfer_metrics needs eval_every >= 0 (it reads the accuracy "
                "before training), as in Avalanche"
            )
        self.at_init = False
        return super().after_eval(strategy)


class ExperienceForwardTransfer(_ForwardTransfer):
    name = "ExperienceForwardTransfer"


class StreamForwardTransfer(_ForwardTransfer):
    name, stream = "StreamForwardTransfer", True
