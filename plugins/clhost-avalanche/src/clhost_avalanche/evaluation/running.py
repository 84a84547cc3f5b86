"""Accuracy, loss and timing: values accumulated between a reset and an emission.

Each metric mirrors one of Avalanche's (``Top1_Acc_Epoch``, ``Loss_Stream``,
``Time_MB``, ...): ``reset_at`` and ``emit_at`` (iteration, epoch, experience, stream) in
the training or the evaluation phase (``mode``). Stream accuracy and loss are pooled
over every sample of the evaluated experiences, not averaged over experiences. Counts
stay tensors until a value is emitted, so a minibatch costs no device synchronisation.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from clhost_avalanche.evaluation.base import MetricValue, PluginMetric, metric_name, value

RESETS = {
    "before_training": ("stream", "train"),
    "before_training_exp": ("experience", "train"),
    "before_training_epoch": ("epoch", "train"),
    "before_training_iteration": ("iteration", "train"),
    "before_eval": ("stream", "eval"),
    "before_eval_exp": ("experience", "eval"),
    "before_eval_iteration": ("iteration", "eval"),
}
EMITS = {
    "after_training_iteration": ("iteration", "train"),
    "after_training_epoch": ("epoch", "train"),
    "after_training_exp": ("experience", "train"),
    "after_training": ("stream", "train"),
    "after_eval_iteration": ("iteration", "eval"),
    "after_eval_exp": ("experience", "eval"),
    "after_eval": ("stream", "eval"),
}
UPDATES = {"after_training_iteration": "train", "after_eval_iteration": "eval"}


class RunningMetric(PluginMetric):
    """Avalanche's ``GenericPluginMetric``: reset, update and emit at the given points."""

    name = ""
    reset_at, emit_at, mode = "experience", "experience", "eval"

    def __init__(
        self, reset_at: str | None = None, emit_at: str | None = None, mode: str | None = None
    ):
        self.reset_at = reset_at or self.reset_at
        self.emit_at = emit_at or self.emit_at
        self.mode = mode or self.mode
        self.reset()

    def __str__(self) -> str:
        return self.name

    def update(self, strategy: Any) -> None:
        raise NotImplementedError

    def _callback(self, callback: str, strategy: Any) -> list[MetricValue] | None:
        if RESETS.get(callback) == (self.reset_at, self.mode):
            self.reset()
        if UPDATES.get(callback) == self.mode:
            self.update(strategy)
        if EMITS.get(callback) == (self.emit_at, self.mode):
            name = metric_name(self, strategy, add_experience=self.emit_at == "experience")
            return value(self, strategy, name, self.result())
        return None


for _callback in {*RESETS, *EMITS}:
    setattr(
        RunningMetric,
        _callback,
        lambda self, strategy, _name=_callback: self._callback(_name, strategy),
    )


class _Accuracy(RunningMetric):
    def reset(self) -> None:
        self.correct: list[torch.Tensor] = []
        self.seen = 0

    def update(self, strategy: Any) -> None:
        output, targets = strategy.mb_output, strategy.mb_y
        predicted = output.argmax(dim=1) if output.dim() > 1 else output
        self.correct.append((predicted == targets).sum())
        self.seen += len(targets)

    def result(self) -> float:
        return float(torch.stack(self.correct).sum()) / self.seen if self.seen else 0.0


class _Loss(RunningMetric):
    def reset(self) -> None:
        self.losses: list[torch.Tensor] = []
        self.sizes: list[int] = []

    def update(self, strategy: Any) -> None:
        self.losses.append(strategy.loss.detach().mean())
        self.sizes.append(len(strategy.mb_y))

    def result(self) -> float:
        if not self.sizes:
            return 0.0
        weights = torch.tensor(self.sizes, dtype=torch.float64)
        return float(torch.stack(self.losses).cpu().double() @ weights) / sum(self.sizes)


class _Time(RunningMetric):
    """Seconds since the reset; per iteration, on average, for the running epoch time."""

    per_iteration = False

    def reset(self) -> None:
        self.start, self.iterations = time.perf_counter(), 0

    def update(self, strategy: Any) -> None:
        self.iterations += 1

    def result(self) -> float:
        elapsed = time.perf_counter() - self.start
        return elapsed / max(self.iterations, 1) if self.per_iteration else elapsed


def _named(base: type, name: str, reset_at: str, emit_at: str, mode: str, **attrs: Any) -> type:
    """Avalanche's metric ``name`` (key ``attrs["key"]``): ``base`` at fixed points."""
    points = {"reset_at": reset_at, "emit_at": emit_at, "mode": mode}
    return type(name, (base,), {**points, "name": attrs.pop("key"), **attrs})


MinibatchAccuracy = _named(
    _Accuracy, "MinibatchAccuracy", "iteration", "iteration", "train", key="Top1_Acc_MB"
)
EpochAccuracy = _named(_Accuracy, "EpochAccuracy", "epoch", "epoch", "train", key="Top1_Acc_Epoch")
RunningEpochAccuracy = _named(
    _Accuracy, "RunningEpochAccuracy", "epoch", "iteration", "train", key="Top1_RunningAcc_Epoch"
)
ExperienceAccuracy = _named(
    _Accuracy, "ExperienceAccuracy", "experience", "experience", "eval", key="Top1_Acc_Exp"
)
StreamAccuracy = _named(
    _Accuracy, "StreamAccuracy", "stream", "stream", "eval", key="Top1_Acc_Stream"
)
MinibatchLoss = _named(_Loss, "MinibatchLoss", "iteration", "iteration", "train", key="Loss_MB")
EpochLoss = _named(_Loss, "EpochLoss", "epoch", "epoch", "train", key="Loss_Epoch")
RunningEpochLoss = _named(
    _Loss, "RunningEpochLoss", "epoch", "iteration", "train", key="RunningLoss_Epoch"
)
ExperienceLoss = _named(_Loss, "ExperienceLoss", "experience", "experience", "eval", key="Loss_Exp")
StreamLoss = _named(_Loss, "StreamLoss", "stream", "stream", "eval", key="Loss_Stream")
MinibatchTime = _named(_Time, "MinibatchTime", "iteration", "iteration", "train", key="Time_MB")
EpochTime = _named(_Time, "EpochTime", "epoch", "epoch", "train", key="Time_Epoch")
RunningEpochTime = _named(
    _Time,
    "RunningEpochTime",
    "epoch",
    "iteration",
    "train",
    key="RunningTime_Epoch",
    per_iteration=True,
)
ExperienceTime = _named(_Time, "ExperienceTime", "experience", "experience", "eval", key="Time_Exp")
StreamTime = _named(_Time, "StreamTime", "stream", "stream", "eval", key="Time_Stream")
