"""JointTraining: concatenate every experience given to ``train()`` and train once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from clhost.capabilities import REHEARSAL, TRAINING_DATA, Capabilities
from clhost.data import Experience, TensorData, experience_data
from clhost.errors import ClhostError
from clhost.templates import SupervisedTemplate, TrainResult


class AlreadyTrainedError(ClhostError, RuntimeError):
    """``JointTraining.train()`` called a second time."""


class JointTraining(SupervisedTemplate):
    """Train once on the concatenation of all the experiences passed to ``train()``.

    This is not continual learning: it sees the whole stream at once and so gives the
    accuracy a continual learner would like to reach (the "joint" or "offline" upper
    bound). The model is adapted to every experience in stream order before training
    (an incremental classifier grows to all classes, a multi-head model gets every
    task's head). As in Avalanche, training a second time is an error: pass the whole
    stream to one call. Evaluation and periodic evaluation work as in any template.
    """

    trains_on_whole_stream = True  # clhost.experiment.run_experiment trains it in one call
    distributed = "replicated"  # train() only merges the stream for the template's loop
    capabilities = Capabilities(
        conflicts={
            REHEARSAL: "joint training sees the whole stream at once: there is no past "
            "experience to rehearse",
            TRAINING_DATA: "joint training is the upper bound only when it trains on the "
            "whole stream it is given",
        }
    )

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._parts: list[Experience] = []
        self._trained = False

    def train(
        self,
        experiences: Experience | Iterable[Experience],
        eval_streams: Sequence[Any] | None = None,
    ) -> TrainResult:
        if self._trained:
            raise AlreadyTrainedError(
                "JointTraining trains once: call train() a single time with the whole stream"
            )
        parts = [experiences] if isinstance(experiences, Experience) else list(experiences)
        merged = joint_experience(parts)
        self._parts = parts
        result = super().train(merged, eval_streams)
        self._trained = True
        return result

    def model_adaptation(self, experience: Experience) -> None:
        """Grow for each experience in stream order, refreshing the optimizer after each
        step so that parameters replaced twice are still the ones it updates."""
        for part in self._parts or [experience]:  # one at a time when a checkpoint replays
            super().model_adaptation(part)
            super().make_optimizer()

    def make_optimizer(self) -> None:
        """Nothing left to do: ``model_adaptation`` refreshed the optimizer step by step."""


def joint_experience(parts: Sequence[Experience]) -> Experience:
    """One experience holding the data, classes and task labels of all ``parts``.

    Tensor-backed experiences become one ``TensorData`` (the fast path); any other mix is
    a ``ConcatDataset`` of ``(x, y, t)`` datasets. The index is the last part's, so the
    evaluator files the result after the whole stream.
    """
    if not parts:
        raise ValueError("JointTraining needs at least one experience to train on")
    datasets = [experience_data(p) for p in parts]
    if all(isinstance(d, TensorData) for d in datasets):
        dataset: Any = TensorData.concat(datasets)
    else:
        dataset = torch.utils.data.ConcatDataset(datasets)
    classes = tuple(sorted({c for p in parts for c in p.classes_in_this_experience}))
    tasks = tuple(sorted({t for p in parts for t in p.task_labels}))
    return Experience(
        dataset,
        current_experience=parts[-1].current_experience,
        origin_stream=parts[-1].origin_stream,
        classes_in_this_experience=classes,
        task_labels=tasks,
        previous_classes=(),
        classes_seen_so_far=classes,
    )
