"""Per-experience training cost over a long stream: does it stay flat as the stream grows?

A synthetic class-incremental stream, generated here from ``--seed``: ``--classes``
classes (100) of ``--features``-dimensional Gaussian inputs (64) around random class
means, ``--per-class`` training samples each (300), dealt out ``--classes-per-exp`` (2)
per experience: 50 experiences. Every strategy trains an MLP ``features-256-classes``
from the same initial weights with plain SGD (lr 0.1), minibatches of 32, ``--epochs``
epochs (1), no evaluator. Each experience's ``train()`` is timed by the process's CPU
time, so other jobs on a shared machine disturb it little; memories, importances and
previous models are built inside it, so their cost counts where it falls.

The table gives, per strategy, the total, the mean of the first and of the last five
experiences, and their ratio ``last 5 / first 5``: about 1 when the per-experience cost is
flat, larger when it grows with the stream (which only a method whose work grows by
design, like GEM's one constraint per past experience, should show). Final accuracy on
the whole test stream (the argmax of the model's output) is shown as a sanity check; it
means little for strategies that classify otherwise (iCaRL, SCR, CoPE: nearest mean).

Run with the Avalanche 0.6.0 environment (``/work/avl-venv/bin/python``, or any with
``avalanche-lib`` installed) and the strategies of ``AVALANCHE`` also run in Avalanche on
the same data, initial weights and settings, interleaved with clhost's, with the ratio of
the totals. Without Avalanche only clhost runs.

Run: ``OMP_NUM_THREADS=1 python benchmarks/long_stream.py [--strategies naive,ewc,gem]
[--per-experience] [--no-avalanche]``; ``--classes 8 --per-class 20`` makes a tiny stream.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from accuracy_table import UNSUPPORTED, settings_for
from torch import nn

from clhost import registry
from clhost._convert import bind
from clhost.benchmarks import class_incremental
from clhost.data import Benchmark, TensorData
from clhost.models import SimpleMLP

HIDDEN, LR, MB_SIZE, WINDOW = 256, 0.1, 32, 5
NAIVE = "naive"
# clhost settings that differ from accuracy_table's; Avalanche gets the same values.
# accuracy_table's ewc_lambda (1000, for Adam at lr 0.001) makes Avalanche's EWC diverge
# at plain SGD lr 0.1 (a step multiplies theta - theta* by 1 - lr * ewc_lambda * F; clhost
# caps the weights under SGD), so its cost would be the cost of NaN arithmetic.
# Parameters that must equal the stream's number of classes (CoPE's embedding is the
# model's output).
SIZED_BY_CLASSES: dict[str, tuple[str, ...]] = {"cope": ("n_classes", "p_size")}
SETTINGS: dict[str, dict[str, str]] = {
    "ewc": {"ewc_lambda": "10"},
    "gss-greedy": {"mem_strength": "5"},
}


def synthetic_stream(
    classes: int, per_class: int, features: int, classes_per_exp: int, seed: int
) -> Benchmark:
    """Gaussian classes around random means (unit noise), a quarter as many test samples."""
    generator = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, features, generator=generator) * 0.5

    def sample(n: int) -> TensorData:
        y = torch.arange(classes).repeat_interleave(n)
        return TensorData(means[y] + torch.randn(len(y), features, generator=generator), y)

    train, test = sample(per_class), sample(max(1, per_class // 4))
    return class_incremental(train, test, classes // classes_per_exp, seed=seed)


@dataclass
class Run:
    seconds: list[float] = field(default_factory=list)
    accuracy: float = float("nan")
    error: str = ""

    def window(self, first: bool) -> float:
        part = self.seconds[:WINDOW] if first else self.seconds[-WINDOW:]
        return statistics.fmean(part)

    @property
    def growth(self) -> float:
        first = self.window(True)
        return self.window(False) / first if first > 0 else math.nan


def initial_model(benchmark: Benchmark, seed: int) -> SimpleMLP:
    torch.manual_seed(seed)
    return SimpleMLP(benchmark.n_classes, benchmark.input_shape[0], (HIDDEN,))


def pooled_accuracy(model: nn.Module, benchmark: Benchmark) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for experience in benchmark.test_stream:
            data = experience.dataset
            correct += int((model(data.x).argmax(dim=1) == data.y).sum())
            total += len(data.y)
    return correct / total


def timed(train: Callable[[Any], Any], experiences: list[Any]) -> list[float]:
    seconds = []
    for experience in experiences:
        start = time.process_time()
        train(experience)
        seconds.append(time.process_time() - start)
    return seconds


def clhost_settings(name: str) -> dict[str, str]:
    return {**settings_for(name, "class"), **SETTINGS.get(name, {})}


def run_clhost(name: str, benchmark: Benchmark, model: nn.Module, epochs: int) -> Run:
    strategy_class = registry.load("strategy", name)
    settings = clhost_settings(name)
    settings.update({key: str(benchmark.n_classes) for key in SIZED_BY_CLASSES.get(name, ())})
    kwargs = bind(strategy_class, settings, what=f"strategy {name!r}")
    strategy = strategy_class(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=LR),
        train_mb_size=MB_SIZE,
        train_epochs=epochs,
        evaluator=None,
        **kwargs,
    )
    seconds = timed(strategy.train, list(benchmark.train_stream))
    return Run(seconds, pooled_accuracy(strategy.model, benchmark))


def _settings(name: str) -> dict[str, float]:
    return {key: float(value) for key, value in clhost_settings(name).items()}


# Avalanche constructors of the strategies both libraries have, with clhost's settings.
AVALANCHE: dict[str, Callable[[Any, int], dict[str, Any]]] = {
    "naive": lambda avl, features: {"cls": avl.Naive},
    "ewc": lambda avl, features: {
        "cls": avl.EWC,
        "ewc_lambda": _settings("ewc").get("ewc_lambda", 1000.0),
        "mode": "separate",
    },
    "gem": lambda avl, features: {
        "cls": avl.GEM,
        "patterns_per_exp": 256,
        "memory_strength": 0.5,
    },
    "gss-greedy": lambda avl, features: {
        "cls": avl.GSS_greedy,
        "mem_size": 200,
        "mem_strength": int(_settings("gss-greedy")["mem_strength"]),
        "input_size": [features],
    },
    "replay": lambda avl, features: {"cls": avl.Replay, "mem_size": 200},
}


def run_avalanche(name: str, benchmark: Benchmark, model: nn.Module, epochs: int) -> Run:
    import avalanche.training as avl
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
    from avalanche.benchmarks.utils.classification_dataset import (
        _make_taskaware_tensor_classification_dataset as tensor_dataset,
    )
    from avalanche.training.plugins import EvaluationPlugin

    def dataset(experience: Any) -> Any:
        data = experience.dataset
        return tensor_dataset(data.x, data.y, task_labels=0, targets=data.y.tolist())

    warnings.filterwarnings("ignore", message="No loggers specified")
    stream = benchmark_from_datasets(train=[dataset(e) for e in benchmark.train_stream])
    options = AVALANCHE[name](avl, benchmark.input_shape[0])
    strategy = options.pop("cls")(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=LR),
        criterion=nn.CrossEntropyLoss(),
        train_mb_size=MB_SIZE,
        train_epochs=epochs,
        evaluator=EvaluationPlugin(),
        **options,
    )
    seconds = timed(strategy.train, list(stream.train_stream))
    return Run(seconds, pooled_accuracy(model, benchmark))


def guarded(runner: Callable[..., Run], *args: Any) -> Run:
    try:
        return runner(*args)
    except Exception as error:  # reported in the table, never hidden
        first = (str(error).strip().splitlines() or [""])[0]
        return Run(error=f"{type(error).__name__}: {first}"[:160])


def avalanche_available() -> bool:
    try:
        import avalanche  # noqa: F401
    except ImportError:
        return False
    return True


def row(library: str, name: str, run: Run, reference: Run | None) -> str:
    if run.error:
        return f"| {name} | {library} | | | | | | | error: {run.error} |"
    versus = ""
    if reference is not None and not reference.error:
        versus = f"{sum(run.seconds) / sum(reference.seconds):.2f}"
    return (
        f"| {name} | {library} | {sum(run.seconds):.2f} | {run.window(True) * 1e3:.1f} "
        f"| {run.window(False) * 1e3:.1f} | {run.growth:.2f} | {versus} | {run.accuracy:.3f} | |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="", help="default: every installed strategy")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--classes-per-exp", type=int, default=2)
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-avalanche", action="store_true", help="run clhost only")
    parser.add_argument("--per-experience", action="store_true", help="print every time")
    args = parser.parse_args()
    if args.classes % args.classes_per_exp or args.classes // args.classes_per_exp < WINDOW:
        parser.error(f"--classes must split into at least {WINDOW} experiences of equal size")
    names = args.strategies.split(",") if args.strategies else None
    names = names or [entry.name for entry in registry.list_entries("strategy")]
    with_avalanche = not args.no_avalanche and avalanche_available()
    benchmark = synthetic_stream(
        args.classes, args.per_class, args.features, args.classes_per_exp, args.seed
    )
    n = len(benchmark.train_stream)
    print(
        f"### Per-experience CPU time on a {n}-experience stream\n\n"
        f"Synthetic class-incremental stream ({args.classes} classes, {args.classes_per_exp} "
        f"per experience, {args.per_class} training samples per class, {args.features} "
        f"features, seed {args.seed}), MLP {args.features}-{HIDDEN}-{args.classes}, SGD lr "
        f"{LR}, minibatch {MB_SIZE}, {args.epochs} epoch(s), no evaluator; process CPU time "
        f"of each experience's train(). Growth: mean of the last {WINDOW} experiences over "
        f"the first {WINDOW}. × Avalanche: ratio of the totals.\n"
    )
    print(
        f"| strategy | library | total s | first {WINDOW} ms | last {WINDOW} ms | growth "
        "| × Avalanche | final accuracy | notes |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    details = []
    for name in names:
        reason = UNSUPPORTED.get((name, "class")) or UNSUPPORTED.get((name, None))
        if getattr(registry.load("strategy", name), "trains_on_whole_stream", False):
            reason = "trains once on the whole stream: no per-experience cost"
        if reason:
            print(f"| {name} | clhost | | | | | | | not run: {reason} |")
            continue
        ours = guarded(
            run_clhost, name, benchmark, initial_model(benchmark, args.seed), args.epochs
        )
        theirs = None
        if with_avalanche and name in AVALANCHE:
            model = initial_model(benchmark, args.seed)
            theirs = guarded(run_avalanche, name, benchmark, model, args.epochs)
        print(row("clhost", name, ours, theirs), flush=True)
        if theirs is not None:
            print(row("Avalanche", name, theirs, None), flush=True)
        details += [(name, "clhost", ours), (name, "Avalanche", theirs)]
    if args.per_experience:
        print("\nPer-experience CPU time (ms):\n")
        for name, library, run in details:
            if run is not None and not run.error:
                times = " ".join(f"{s * 1e3:.0f}" for s in run.seconds)
                print(f"- {name}, {library}: {times}")
    if not with_avalanche:
        print("\nAvalanche not run (not installed, or --no-avalanche).", file=sys.stderr)


if __name__ == "__main__":
    main()
