"""Run a strategy over a benchmark: train, evaluate, checkpoint, resume, report."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from clhost import distributed
from clhost._atomic import atomic_write_text, require_writable_directory
from clhost._description import describe_experiment
from clhost.checkpoint import load_checkpoint, save_checkpoint
from clhost.data import Benchmark, Stream
from clhost.errors import ParameterError, PluginCompositionError
from clhost.evaluation import metrics
from clhost.evaluation.efficiency import efficiency
from clhost.evaluation.loggers import (
    RUN,
    Logger,
    MetricEvent,
    ProgressLogger,
    closing_all,
    json_ready,
)
from clhost.evaluation.plugin import EvaluationPlugin

CHECKPOINT_NAME = "checkpoint.pt"
_TRANSFER = ("Forgetting", "BWT", "FWT")  # summary metrics that need two training steps
RESULTS_NAME = "results.json"
MATRIX_NAME = "accuracy_matrix.csv"


@dataclass
class RunResults:
    """The outcome of a run; every summary metric derives from ``accuracy_matrix``.

    ``accuracy_matrix[i][j]``: accuracy on test experience ``j`` after training on train
    experiences ``0..i``; ``initial_accuracy[j]``: before any training (``None`` if the
    run did not evaluate first). ``train_metrics[i]``: accuracy, loss, samples and seconds
    of training on experience ``i``; ``eval_seconds[i]``: the evaluation after it.
    ``efficiency``: what training cost (``clhost.evaluation.efficiency``; filled by
    ``run_experiment``). Definitions: ``docs/metrics.md``.
    """

    strategy: str
    benchmark: str
    accuracy_matrix: list[list[float]]
    loss_matrix: list[list[float]] = field(default_factory=list)
    initial_accuracy: list[float] | None = None
    train_metrics: list[dict[str, float]] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)
    efficiency: dict[str, Any] = field(default_factory=dict)
    average_accuracy: float = field(init=False)
    average_seen_accuracy: float = field(init=False)
    forgetting: float = field(init=False)
    bwt: float = field(init=False)
    fwt: float = field(init=False)

    def __post_init__(self) -> None:
        matrix = metrics.as_matrix(self.accuracy_matrix)
        self.average_accuracy = metrics.average_accuracy(matrix)
        self.average_seen_accuracy = metrics.average_accuracy(matrix, seen_only=True)
        self.forgetting = metrics.forgetting(matrix)
        self.bwt = metrics.backward_transfer(matrix)
        self.fwt = metrics.forward_transfer(matrix, self.initial_accuracy)

    @classmethod
    def from_evaluator(
        cls, evaluator: EvaluationPlugin, *, strategy: str, benchmark: Benchmark
    ) -> RunResults:
        """Read the test-stream matrices and timings the evaluator recorded."""
        stream = benchmark.test_stream.name
        return cls(
            strategy=strategy,
            benchmark=benchmark.name,
            accuracy_matrix=[list(row) for row in evaluator.accuracy_matrix.get(stream, [])],
            loss_matrix=[list(row) for row in evaluator.loss_matrix.get(stream, [])],
            initial_accuracy=_copy(evaluator.initial_accuracy.get(stream)),
            train_metrics=[dict(entry) for entry in evaluator.train_history],
            eval_seconds=list(evaluator.eval_seconds.get(stream, [])),
        )

    @property
    def train_seconds(self) -> list[float]:
        """Seconds spent training on each experience."""
        return [entry.get("seconds", math.nan) for entry in self.train_metrics]

    def summary_metrics(self) -> dict[str, float]:
        """The single-number metrics of the run."""
        return {
            "average_accuracy": self.average_accuracy,
            "average_seen_accuracy": self.average_seen_accuracy,
            "forgetting": self.forgetting,
            "bwt": self.bwt,
            "fwt": self.fwt,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``nan``, i.e. undefined, becomes ``None``)."""
        return json_ready(
            {
                "strategy": self.strategy,
                "benchmark": self.benchmark,
                **self.summary_metrics(),
                "accuracy_matrix": self.accuracy_matrix,
                "loss_matrix": self.loss_matrix,
                "initial_accuracy": self.initial_accuracy,
                "train_metrics": self.train_metrics,
                "train_seconds": self.train_seconds,
                "eval_seconds": self.eval_seconds,
                "efficiency": self.efficiency,
            }
        )

    def write(self, output_dir: str | Path) -> None:
        """Write ``results.json`` and ``accuracy_matrix.csv``, each atomically."""
        directory = Path(output_dir)
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        atomic_write_text(directory / RESULTS_NAME, text)
        atomic_write_text(directory / MATRIX_NAME, self.matrix_csv())

    def matrix_csv(self) -> str:
        """The accuracy matrix as CSV: a row per ``after`` (``initial`` or experience)."""
        width = len(self.accuracy_matrix[0]) if self.accuracy_matrix else 0
        if self.initial_accuracy is not None:
            width = max(width, len(self.initial_accuracy))
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["after", *(f"exp_{j}" for j in range(width))])
        if self.initial_accuracy is not None:
            writer.writerow(["initial", *self.initial_accuracy])
        for i, row in enumerate(self.accuracy_matrix):
            writer.writerow([i, *row])
        return text.getvalue()

    def summary(self) -> str:
        """A readable report: the matrix as a table, then the summary metrics."""
        rows = [("initial", self.initial_accuracy)] if self.initial_accuracy is not None else []
        rows += [(f"after {i}", row) for i, row in enumerate(self.accuracy_matrix)]
        width = max((len(row) for _, row in rows), default=0)
        lines = [
            f"{self.strategy} on {self.benchmark}: {len(self.accuracy_matrix)} experiences",
            "Accuracy R[i][j] on test experience j after training experience i:",
            f"{'':>9}" + "".join(f"{f'exp {j}':>8}" for j in range(width)),
        ]
        lines += [f"{label:>9}" + "".join(f"{v:>8.4f}" for v in row) for label, row in rows]
        seen = len(self.accuracy_matrix)
        average = f"Average accuracy  {self.average_accuracy:.4f} (all {width} test experiences)"
        if seen == 1:  # e.g. joint training: nothing learnt later to forget or transfer to
            lines += [average] + [f"{name:<18}n/a (one training step)" for name in _TRANSFER]
        else:
            lines += [
                average + f", {self.average_seen_accuracy:.4f} (the {seen} seen)",
                f"Forgetting        {self.forgetting:.4f}",
                f"BWT               {self.bwt:+.4f}",
                f"FWT               {self.fwt:+.4f}",
            ]
        lines += [
            f"Time              {math.fsum(self.train_seconds):.2f} s training, "
            f"{math.fsum(self.eval_seconds):.2f} s evaluating",
        ]
        if self.efficiency:
            cost = self.efficiency
            lines.append(
                f"Cost              {cost['parameters']:,} parameters, "
                f"{cost['buffer_bytes']:,} bytes of plugin state, "
                f"{cost['forward_passes_per_sample']:.2f} forward and "
                f"{cost['backward_passes_per_sample']:.2f} backward passes per sample"
            )
        return "\n".join(lines)


def run_experiment(
    strategy: Any,
    benchmark: Benchmark,
    *,
    output_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    loggers: Sequence[Logger] = (),
    eval_before_training: bool = True,
    eval_streams: Sequence[Stream] = (),
    settings: Mapping[str, Any] | None = None,
    on_resume: Callable[[int], object] | None = None,
) -> RunResults:
    """Train ``strategy`` on each train experience, evaluating the test stream after each
    (a strategy with ``trains_on_whole_stream`` trains once on the whole stream).

    ``eval_before_training`` evaluates the test stream once first (the baseline of
    forward transfer). With ``output_dir`` a checkpoint is written there after every
    experience, and ``results.json`` and ``accuracy_matrix.csv`` at the end. ``resume``
    continues after the last experience of that checkpoint (or starts afresh when there
    is none): a fresh strategy built as the first one was ends with the same weights and
    metrics as a run that was never interrupted. Each checkpoint records what the
    experiment is made of (``clhost._description``: every parameter of the strategy,
    plugins, model, optimizer and benchmark, plus ``settings`` such as the seed the
    objects were built with), and resuming with anything that differs raises
    ``CheckpointError`` naming it, before anything is trained or written; ``on_resume``
    is then called with the number of experiences already done. ``loggers`` (and a
    progress bar on the terminal with ``progress``) receive every metric event and are
    closed at the end.
    ``eval_streams`` go to every ``train()`` call, for the strategy's periodic evaluation
    (a validation stream that early stopping watches).
    """
    evaluator = getattr(strategy, "evaluator", None)
    if not isinstance(evaluator, EvaluationPlugin):
        raise PluginCompositionError(
            "run_experiment reads the accuracy matrix from the strategy's EvaluationPlugin; "
            f"the strategy's evaluator is {evaluator!r}"
        )
    if resume and output_dir is None:
        raise ParameterError("resume=True needs output_dir, where the checkpoint is")
    directory = Path(output_dir) if output_dir is not None else None
    if directory is not None:
        require_writable_directory(directory, what="output_dir")
    checkpoint = directory / CHECKPOINT_NAME if directory is not None else None
    # recorded in every checkpoint, so it is taken before anything is trained or loaded
    experiment = describe_experiment(strategy, benchmark, settings) if checkpoint else None
    active = [*loggers, *([ProgressLogger()] if progress and distributed.is_main() else [])]
    train_stream, test_stream = benchmark.train_stream, benchmark.test_stream
    validation = (list(eval_streams),) if eval_streams else ()  # train()'s eval_streams
    with closing_all(active), evaluator.attached(active):
        done = 0
        if resume and checkpoint is not None and checkpoint.exists():
            done = load_checkpoint(strategy, checkpoint, benchmark=benchmark, settings=settings)
        if resume and on_resume is not None:
            on_resume(done)
        if done == 0 and eval_before_training:
            strategy.eval(test_stream)
        for stop, experiences in _training_steps(strategy, train_stream, done):
            strategy.train(experiences, *validation)
            strategy.eval(test_stream)
            if checkpoint is not None:  # written once, by rank 0, under DDP
                shards = distributed.gather_shards(strategy.stateful_components())
                write = partial(save_checkpoint, strategy, checkpoint, stop, shards=shards)
                distributed.main_first(partial(write, benchmark=benchmark, experiment=experiment))
        results = RunResults.from_evaluator(
            evaluator, strategy=type(strategy).__name__, benchmark=benchmark
        )
        train_seconds = math.fsum(results.train_seconds)
        results.efficiency = efficiency(strategy, evaluator.train_costs, train_seconds)
        evaluator.emit(
            MetricEvent(
                RUN,
                results.summary_metrics(),
                stream=test_stream.name,
                trained=len(results.accuracy_matrix),
                iteration=getattr(getattr(strategy, "clock", None), "train_iterations", 0),
            )
        )
    if directory is not None:
        distributed.main_first(lambda: results.write(directory))
    return results


def _training_steps(strategy: Any, stream: Stream, done: int) -> list[tuple[int, Any]]:
    """``(position after, what to train on)`` for each ``train()`` call still to make: one
    experience each, or the whole stream at once for strategies that declare
    ``trains_on_whole_stream`` (joint training, the offline upper bound)."""
    if getattr(strategy, "trains_on_whole_stream", False):
        return [(len(stream), stream)] if done < len(stream) else []
    return [(position + 1, stream[position]) for position in range(done, len(stream))]


def _copy(values: list[float] | None) -> list[float] | None:
    return None if values is None else list(values)
