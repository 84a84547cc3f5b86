"""The evaluation plugin: accumulates loss and accuracy, builds the accuracy matrix and
sends metric events to loggers."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from clhost import distributed
from clhost._markers import hookimpl
from clhost.evaluation.efficiency import CostMeter
from clhost.evaluation.loggers import (
    EVAL_EXPERIENCE,
    EVAL_STREAM,
    TRAIN_EPOCH,
    TRAIN_EXPERIENCE,
    TRAIN_ITERATION,
    Logger,
    MetricEvent,
)
from clhost.evaluation.metrics import NAN, confusion_matrix, mean
from clhost.evaluation.results import EvalResult
from clhost.hookspecs import SGDLoopHooks
from clhost.plugin import BasePlugin, BaseSGDPlugin

Table = dict[str, list[list[float]]]


class BaseEvaluationPlugin(BasePlugin):
    """The evaluator of any template: it implements only the hooks every template fires.

    ``accuracy_matrix[stream][i][j]`` is the accuracy on experience ``j`` of ``stream``
    after training on ``i + 1`` experiences (``R[i][j]`` in the literature), ``loss_matrix``
    the same for the loss; evaluations before any training are kept apart in
    ``initial_accuracy``/``initial_loss`` (for forward transfer). Only an evaluation
    between experiences writes a row: periodic evaluation in the middle of an experience
    is reported to loggers but leaves the matrices alone. ``train_history`` holds the
    training metrics and seconds of each experience, ``eval_seconds[stream][i]`` the
    duration of the evaluation that wrote row ``i``.

    Accuracy and loss are counted per minibatch, which only ``EvaluationPlugin`` (the
    default of the minibatch templates) sees; here they stay ``nan`` and only the
    experiences, their order and their timings are measured.

    ``loggers`` receive a ``MetricEvent`` after each training experience, each evaluated
    experience and each evaluated stream, stamped with the seconds since this evaluator
    first trained or evaluated.

    Under distributed training its counts are summed over ranks before each summary, so
    every rank holds the same matrices (replicated); each rank counts only the
    minibatches it was dealt, none twice.

    ``train_costs[i]`` holds what training experience ``i`` cost (``CostMeter``): its
    samples, the samples passed forward and backward through the model (summed over
    ranks) and the CPU seconds.
    """

    name = "evaluator"
    distributed = distributed.REPLICATED

    def __init__(self, *, loggers: Sequence[Logger] = ()):
        self.loggers: list[Logger] = list(loggers)
        self.trained_experiences: list[int] = []
        self.train_history: list[dict[str, float]] = []
        self.train_costs: list[dict[str, float]] = []
        self.accuracy_matrix: Table = {}
        self.loss_matrix: Table = {}
        self.initial_accuracy: dict[str, list[float]] = {}
        self.initial_loss: dict[str, list[float]] = {}
        self.eval_seconds: dict[str, list[float]] = {}
        self._in_experience = False
        self._progress: list[Logger] = []
        self._train_totals = _Totals()
        self._meter = CostMeter()
        self._eval_totals = _Totals()
        self._eval_start = 0.0
        self._eval_per_exp: dict[int, dict[str, float]] = {}
        self._eval_pooled = _Totals()
        self._eval_stream = ""
        self._confusion: Tensor | None = None
        self._confusions: dict[int, Tensor] = {}
        self._last_eval: EvalResult | None = None
        self._last_train: dict[str, float] = {}
        self._started: float | None = None

    def elapsed(self) -> float:
        """Wall-clock seconds since this evaluator first trained or evaluated (0 before)."""
        if self._started is None:
            self._started = time.perf_counter()
        return time.perf_counter() - self._started

    @contextmanager
    def attached(self, loggers: Sequence[Logger]) -> Iterator[None]:
        """Send events to ``loggers`` too, until the block ends."""
        added = [logger for logger in loggers if logger not in self.loggers]
        self.loggers.extend(added)
        try:
            yield
        finally:
            self.loggers = [logger for logger in self.loggers if logger not in added]

    def emit(self, event: MetricEvent) -> None:
        """Send ``event`` to every logger that receives its phase, stamped with
        ``elapsed()`` when it comes without ``seconds``."""
        if event.seconds is None:
            event = replace(event, seconds=self.elapsed())
        for logger in self.loggers:
            if logger.receives(event.phase):
                logger.log(event)

    # -- training ---------------------------------------------------------------------

    @hookimpl
    def clhost_before_training(self) -> None:
        self._in_experience = False  # a previous train() may have died mid-experience
        self.elapsed()  # the clock of the events starts

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        self._train_totals = _Totals()
        self._in_experience = True
        self._start_progress(strategy, "train", _train_steps(strategy))
        self._meter.start(strategy.model)

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        experience = strategy.experience
        summary = self._train_totals.summary()
        costs = self._meter.stop(_length(experience.dataset) or 0)
        summary["seconds"] = costs.pop("seconds")  # evaluations in the middle left out
        costs["forward_samples"], costs["backward_samples"] = distributed.sum_over_ranks(
            [costs["forward_samples"], costs["backward_samples"]]
        )
        self.train_costs.append({"experience": experience.current_experience, **costs})
        self._end_progress()
        self._in_experience = False
        self.trained_experiences.append(experience.current_experience)
        self.train_history.append({"experience": experience.current_experience, **summary})
        self._last_train = summary
        self._emit(strategy, TRAIN_EXPERIENCE, summary, experience.current_experience)

    def train_metrics(self) -> dict[str, float]:
        """Loss, accuracy, samples and seconds of the last trained experience."""
        return dict(self._last_train)

    # -- evaluation -------------------------------------------------------------------

    @hookimpl
    def clhost_before_eval(self) -> None:
        self._meter.pause(True)  # an evaluation costs, but is not training
        self.elapsed()  # the clock of the events starts
        self._eval_per_exp, self._confusions = {}, {}
        self._eval_pooled = _Totals()
        self._eval_start = time.perf_counter()

    @hookimpl
    def clhost_before_eval_exp(self, strategy: Any) -> None:
        self._eval_totals = _Totals()
        self._confusion = None
        self._start_progress(strategy, "eval", _length(getattr(strategy, "dataloader", None)))

    @hookimpl
    def clhost_after_eval_exp(self, strategy: Any) -> None:
        self._end_progress()
        experience = strategy.experience
        index = experience.current_experience
        self._eval_per_exp[index] = summary = self._eval_totals.summary()
        self._eval_pooled.merge(self._eval_totals)
        if getattr(self, "confusion_matrix", False) and distributed.world_size() > 1:
            self._confusion = _summed_over_ranks(self._confusion)
        if self._confusion is not None:
            self._confusions[index] = self._confusion
        self._eval_stream = experience.origin_stream
        self._emit(strategy, EVAL_EXPERIENCE, summary, index)

    @hookimpl
    def clhost_after_eval(self, strategy: Any) -> None:
        per_exp, stream = self._eval_per_exp, self._eval_stream
        pooled = self._eval_pooled.summary()
        metrics = {
            "accuracy": mean([m["accuracy"] for m in per_exp.values()]),
            "loss": mean([m["loss"] for m in per_exp.values()]),
            "accuracy_pooled": pooled["accuracy"],
            "loss_pooled": pooled["loss"],
            "samples": pooled["samples"],
            "seconds": time.perf_counter() - self._eval_start,
        }
        self._last_eval = EvalResult(stream, dict(per_exp), metrics, dict(self._confusions))
        if not self._in_experience and per_exp:
            self._record_row(stream, per_exp, metrics["seconds"])
        self._emit(strategy, EVAL_STREAM, metrics, None)
        self._meter.pause(False)

    def last_eval_result(self) -> EvalResult:
        if self._last_eval is None:
            raise RuntimeError("no evaluation has run yet")
        return self._last_eval

    def _record_row(self, stream: str, per_exp: dict[int, dict[str, float]], seconds: float):
        """Write the evaluated values in the row of the experiences trained so far."""
        trained = len(self.trained_experiences)
        for metric, table, initial in (
            ("accuracy", self.accuracy_matrix, self.initial_accuracy),
            ("loss", self.loss_matrix, self.initial_loss),
        ):
            rows = table.setdefault(stream, []) if trained else table.get(stream, [])
            rows.extend([] for _ in range(trained - len(rows)))
            first = initial.setdefault(stream, []) if not trained else initial.get(stream)
            block = rows if first is None else [first, *rows]
            width = max(max(per_exp) + 1, *(len(row) for row in block))
            for row in block:
                row.extend([NAN] * (width - len(row)))
            row = rows[trained - 1] if trained else initial[stream]
            for index, values in per_exp.items():
                row[index] = values[metric]
        if trained:
            times = self.eval_seconds.setdefault(stream, [])
            times.extend([NAN] * (trained - len(times)))
            times[trained - 1] = seconds

    # -- loggers ------------------------------------------------------------------

    def _emit(
        self,
        strategy: Any,
        phase: str,
        metrics: dict[str, float],
        experience: int | None,
        *,
        iteration: int | None = None,
        epoch: int | None = None,
    ) -> None:
        if not self.loggers:
            return
        if iteration is None:
            iteration = getattr(getattr(strategy, "clock", None), "train_iterations", 0)
        self.emit(
            MetricEvent(
                phase=phase,
                metrics=dict(metrics),
                stream=strategy.experience.origin_stream if strategy.experience else "",
                experience=experience,
                trained=len(self.trained_experiences),
                iteration=iteration,
                epoch=epoch,
            )
        )

    def _start_progress(self, strategy: Any, what: str, total: int | None) -> None:
        self._progress = [logger for logger in self.loggers if logger.shows_progress]
        experience = strategy.experience
        label = f"{what} {experience.origin_stream} exp {experience.current_experience}"
        for logger in self._progress:
            logger.start_progress(label, total)

    def _end_progress(self) -> None:
        for logger in self._progress:
            logger.end_progress()
        self._progress = []

    # -- state --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "trained_experiences": list(self.trained_experiences),
            "train_history": [dict(entry) for entry in self.train_history],
            "train_costs": [dict(entry) for entry in self.train_costs],
            "accuracy_matrix": _copy_table(self.accuracy_matrix),
            "loss_matrix": _copy_table(self.loss_matrix),
            "initial_accuracy": {k: list(v) for k, v in self.initial_accuracy.items()},
            "initial_loss": {k: list(v) for k, v in self.initial_loss.items()},
            "eval_seconds": {k: list(v) for k, v in self.eval_seconds.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trained_experiences = [int(e) for e in state["trained_experiences"]]
        self.train_history = [dict(entry) for entry in state["train_history"]]
        self.train_costs = [dict(entry) for entry in state.get("train_costs", [])]  # older
        self.accuracy_matrix = _copy_table(state["accuracy_matrix"])
        self.loss_matrix = _copy_table(state["loss_matrix"])
        self.initial_accuracy = {k: list(v) for k, v in state["initial_accuracy"].items()}
        self.initial_loss = {k: list(v) for k, v in state["initial_loss"].items()}
        self.eval_seconds = {k: list(v) for k, v in state["eval_seconds"].items()}


class EvaluationPlugin(BaseEvaluationPlugin, BaseSGDPlugin):
    """Computes metrics for every template that fires the SGD loop hooks (their default
    evaluator): ``BaseEvaluationPlugin``'s matrices and events, with accuracy and loss
    counted over every minibatch. Counts accumulate as tensors on the model's device and
    are read once per experience. ``confusion_matrix=True`` adds one confusion matrix per
    evaluated experience to the ``EvalResult``.
    """

    def __init__(self, *, loggers: Sequence[Logger] = (), confusion_matrix: bool = False):
        super().__init__(loggers=loggers)
        self.confusion_matrix = confusion_matrix
        self._detail: set[str] = set()  # the finer phases some logger receives
        self._epoch = (0, 0, 0.0)  # the epoch: its index, its first minibatch, its start

    @hookimpl
    def clhost_before_training_epoch(self, strategy: Any) -> None:
        self._detail = {
            phase
            for phase in (TRAIN_EPOCH, TRAIN_ITERATION)
            if any(logger.receives(phase) for logger in self.loggers)
        }
        index = getattr(getattr(strategy, "clock", None), "train_exp_epochs", 0)
        self._epoch = (index, len(self._train_totals.sizes), time.perf_counter())

    @hookimpl
    def clhost_after_training_epoch(self, strategy: Any) -> None:
        """A ``train_epoch`` event, for loggers asking for one: this rank's minibatches of
        the epoch (no collective: under DDP only rank 0 has loggers)."""
        if TRAIN_EPOCH not in self._detail:
            return
        index, first, start = self._epoch
        summary = self._train_totals.since(first).summary(over_ranks=False)
        summary["seconds"] = time.perf_counter() - start
        experience = strategy.experience.current_experience
        self._emit(strategy, TRAIN_EPOCH, summary, experience, epoch=index)

    @hookimpl
    def clhost_after_training_iteration(self, strategy: Any) -> None:
        self._train_totals.add(strategy)
        for logger in self._progress:
            logger.advance()
        if TRAIN_ITERATION in self._detail:
            self._emit_iteration(strategy)

    def _emit_iteration(self, strategy: Any) -> None:
        """A ``train_iteration`` event: the loss and accuracy of the minibatch just trained
        on (read from the device: only done for loggers asking for it)."""
        totals = self._train_totals
        metrics = {
            "loss": float(totals.losses[-1]),
            "accuracy": float(totals.correct[-1]) / totals.sizes[-1],
        }
        clock = getattr(strategy, "clock", None)
        self._emit(
            strategy,
            TRAIN_ITERATION,
            metrics,
            strategy.experience.current_experience,
            iteration=getattr(clock, "train_iterations", 0) + 1,  # ticked after this hook
            epoch=self._epoch[0],
        )

    @hookimpl
    def clhost_after_eval_iteration(self, strategy: Any) -> None:
        self._eval_totals.add(strategy)
        if self.confusion_matrix:
            self._confusion = _add_confusion(self._confusion, strategy.mb_output, strategy.mb_y)
        for logger in self._progress:
            logger.advance()


def evaluator_for(groups: Sequence[type]) -> BaseEvaluationPlugin:
    """The default evaluator of a template firing the hook ``groups``: ``EvaluationPlugin``
    where the SGD loop hooks are fired, else ``BaseEvaluationPlugin``."""
    return EvaluationPlugin() if SGDLoopHooks in groups else BaseEvaluationPlugin()


def _copy_table(table: Table) -> Table:
    return {stream: [list(row) for row in rows] for stream, rows in table.items()}


class _Totals:
    """Correct predictions, samples and summed loss of many minibatches.

    Each minibatch costs three small tensor operations (argmax, compare, sum) and two list
    appends; the sums are taken once, when the summary is asked for, so the device is
    synchronised once per experience rather than per minibatch.
    """

    def __init__(self) -> None:
        self.correct: list[Tensor] = []
        self.losses: list[Tensor] = []
        self.sizes: list[int] = []

    def add(self, strategy: Any) -> None:
        targets = strategy.mb_y
        self.correct.append((strategy.mb_output.argmax(dim=1) == targets).sum())
        self.losses.append(strategy.loss.detach())
        self.sizes.append(len(targets))

    def merge(self, other: _Totals) -> None:
        self.correct += other.correct
        self.losses += other.losses
        self.sizes += other.sizes

    def since(self, first: int) -> _Totals:
        """The minibatches from the ``first``-th on."""
        part = _Totals()
        part.correct, part.losses = self.correct[first:], self.losses[first:]
        part.sizes = self.sizes[first:]
        return part

    def summary(self, *, over_ranks: bool = True) -> dict[str, float]:
        """Accuracy, mean loss and samples, over every rank under distributed training
        (a collective: every rank asks for it at the same point) unless ``over_ranks`` is
        false."""
        correct = loss = 0.0
        if self.sizes:
            correct = float(torch.stack(self.correct).sum())
            weights = torch.tensor(self.sizes, dtype=torch.float64)
            loss = float(torch.stack(self.losses).cpu().double() @ weights)
        seen: float = sum(self.sizes)
        if over_ranks:
            seen, correct, loss = distributed.sum_over_ranks([seen, correct, loss])
        if not seen:
            return {"accuracy": NAN, "loss": NAN, "samples": 0}
        return {"accuracy": correct / seen, "loss": loss / seen, "samples": int(seen)}


def _add_confusion(counts: Tensor | None, output: Tensor, targets: Tensor) -> Tensor:
    """Add a minibatch to ``counts``, widening it when the model has grown."""
    n_classes = output.shape[1]
    if counts is not None and counts.shape[0] < n_classes:
        wider = counts.new_zeros(n_classes, n_classes)
        wider[: counts.shape[0], : counts.shape[1]] = counts
        counts = wider
    batch = confusion_matrix(output.argmax(dim=1), targets, max(n_classes, _size(counts)))
    return batch if counts is None else counts + batch


def _summed_over_ranks(counts: Tensor | None) -> Tensor | None:
    """The confusion counts of every rank added up (widened to the widest); ``None``
    when no rank counted anything."""
    size = max(distributed.all_gather_object(_size(counts)))
    if size == 0:
        return None
    total = torch.zeros(size, size, dtype=torch.int64)
    if counts is not None:
        total[: counts.shape[0], : counts.shape[1]] = counts.cpu()
    return distributed.all_reduce_sum(total).to(counts.device if counts is not None else "cpu")


def _size(counts: Tensor | None) -> int:
    return 0 if counts is None else counts.shape[0]


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _train_steps(strategy: Any) -> int | None:
    batches = _length(getattr(strategy, "dataloader", None))
    return None if batches is None else batches * getattr(strategy, "train_epochs", 1)
