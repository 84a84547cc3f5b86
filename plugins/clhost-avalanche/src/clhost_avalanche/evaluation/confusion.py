"""The confusion matrix of a whole evaluated stream (``ConfusionMatrix_Stream``)."""

from __future__ import annotations

from typing import Any

import torch

from clhost.errors import ParameterError
from clhost.evaluation.metrics import confusion_matrix
from clhost_avalanche.evaluation.base import MetricValue, PluginMetric, stream_name, value

NORMALIZE = (None, "true", "pred", "all")


class StreamConfusionMatrix(PluginMetric):
    """Counts ``C[true][predicted]`` over the stream; ``num_classes`` fixes the size (else
    it is the model's output width), ``normalize`` divides by rows (``"true"``), columns
    (``"pred"``) or everything (``"all"``). The value is a tensor."""

    def __init__(self, num_classes: int | None = None, normalize: str | None = None):
        if normalize not in NORMALIZE:
            raise ParameterError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
        self.num_classes, self.normalize = num_classes, normalize
        self.reset()

    def __str__(self) -> str:
        return "ConfusionMatrix_Stream"

    def reset(self) -> None:
        self.counts: torch.Tensor | None = None

    def before_eval(self, strategy: Any) -> None:
        self.reset()

    def after_eval_iteration(self, strategy: Any) -> None:
        output = strategy.mb_output
        size = self.num_classes or output.shape[1]
        if self.counts is not None and self.counts.shape[0] < size:
            wider = self.counts.new_zeros(size, size)
            wider[: len(self.counts), : len(self.counts)] = self.counts
            self.counts = wider
        batch = confusion_matrix(output.argmax(dim=1).cpu(), strategy.mb_y.cpu(), size)
        self.counts = batch if self.counts is None else self.counts + batch

    def result(self) -> torch.Tensor:
        counts = self.counts if self.counts is not None else torch.zeros(0, 0, dtype=torch.long)
        if self.normalize is None:
            return counts
        total = {"true": counts.sum(1, keepdim=True), "pred": counts.sum(0, keepdim=True)}
        divisor = total.get(self.normalize, counts.sum())
        return counts.double() / torch.clamp(divisor.double(), min=1)

    def after_eval(self, strategy: Any) -> list[MetricValue]:
        return value(self, strategy, stream_name(self, strategy), self.result())
