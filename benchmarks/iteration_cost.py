"""Cost of a training iteration of every installed strategy, relative to naive finetuning.

The protocol of ``regularization_cost.py`` (whose model size and device synchronisation
this script imports), extended from plugin lists to every ``clhost.strategies`` entry
point: each strategy trains on Split Digits (5 experiences, an MLP with hidden layers
``HIDDEN``, SGD, no evaluator) and is timed in its steady state, on the last experience
(``--epochs`` epochs), after the others built its memories, previous models and
importances (one epoch each: they only build that state). Two costs are divided by the
last experience's iterations:

- epochs: the time inside its training epochs (loading minibatches and the iterations,
  every plugin's per-iteration work included), measured by a plugin listed last;
- experience: the whole ``train()`` call, which adds the work done once per experience
  (importance estimates, exemplar selection, bias correction, generator training ...).

A strategy may run more or fewer iterations than naive (cumulative trains on everything
seen, GDumb on its memory only), so the iterations are shown too. The median over
``--repeats`` runs is reported; the runs go round-robin over the strategies so that a
busy machine slows every strategy alike. On the CPU the clock is the process's CPU time
by default (``--clock cpu``), which other jobs on a shared machine disturb far less than
wall time; on CUDA it is wall time. Strategy settings are those of ``accuracy_table.py``
for class-incremental Split Digits.

Run: ``OMP_NUM_THREADS=1 python benchmarks/iteration_cost.py [--repeats 5] [--epochs 10]
[--strategies replay,ewc] [--device cuda] [--clock wall|cpu]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from accuracy_table import UNSUPPORTED, WHOLE_STREAM_NOTE, settings_for
from regularization_cost import HIDDEN, _synchronize

from clhost import hookimpl, registry
from clhost._convert import bind
from clhost.benchmarks import split_digits
from clhost.models import SimpleMLP
from clhost.plugin import SupervisedPlugin

NAIVE, LR, MB_SIZE = "naive", 0.05, 32


class EpochTimer(SupervisedPlugin):
    """Adds up the time spent inside training epochs."""

    def __init__(self, device: str, clock: Callable[[], float]):
        self.device, self.clock, self.seconds, self._start = device, clock, 0.0, 0.0

    @hookimpl
    def clhost_before_training_epoch(self) -> None:
        _synchronize(self.device)
        self._start = self.clock()

    @hookimpl
    def clhost_after_training_epoch(self) -> None:
        _synchronize(self.device)
        self.seconds += self.clock() - self._start


@dataclass
class Timing:
    iterations: int
    epoch_seconds: float
    experience_seconds: float


def build_strategy(name: str, device: str, epochs: int, timer: EpochTimer) -> Any:
    torch.manual_seed(0)
    strategy_class = registry.load("strategy", name)
    model = SimpleMLP(10, 64, HIDDEN)
    kwargs = bind(strategy_class, settings_for(name, "class"), what=f"strategy {name!r}")
    return strategy_class(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=LR),
        train_mb_size=MB_SIZE,
        train_epochs=epochs,
        device=device,
        evaluator=None,
        plugins=[timer],
        **kwargs,
    )


def trains_on_whole_stream(name: str) -> bool:
    return getattr(registry.load("strategy", name), "trains_on_whole_stream", False)


def time_last_experience(name: str, device: str, epochs: int, clock: Callable[[], float]) -> Timing:
    """Train on all experiences but the last, then time the last one."""
    stream = split_digits(seed=0).train_stream
    timer = EpochTimer(device, clock)
    strategy = build_strategy(name, device, epochs, timer)
    if trains_on_whole_stream(name):
        timed: Any = stream  # trains once, on everything
    else:
        strategy.train_epochs = 1
        strategy.train(stream[:-1])
        strategy.train_epochs = epochs
        timed = stream[-1]
    timer.seconds = 0.0
    _synchronize(device)
    start = clock()
    result = strategy.train(timed)
    _synchronize(device)
    seconds = clock() - start
    return Timing(result.iterations, timer.seconds, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--strategies", default="", help="default: every installed strategy")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clock", choices=("cpu", "wall"), help="default: cpu on the CPU")
    args = parser.parse_args()
    clock_name = args.clock or ("cpu" if torch.device(args.device).type == "cpu" else "wall")
    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    names = args.strategies.split(",") if args.strategies else None
    names = names or [entry.name for entry in registry.list_entries("strategy")]
    names = [NAIVE, *(name for name in names if name != NAIVE)]
    skipped = {
        name: reason
        for name in names
        if (reason := UNSUPPORTED.get((name, "class")) or UNSUPPORTED.get((name, None)))
    }
    timed = [name for name in names if name not in skipped]
    runs: dict[str, list[Timing]] = {name: [] for name in timed}
    for repeat in range(args.repeats):
        for name in timed:
            runs[name].append(time_last_experience(name, args.device, args.epochs, clock))
            print(f"repeat {repeat} {name}: {runs[name][-1]}", file=sys.stderr, flush=True)

    def per_iteration(name: str, field: str) -> float:
        return statistics.median(getattr(t, field) / t.iterations for t in runs[name])

    base = {field: per_iteration(NAIVE, field) for field in ("epoch_seconds", "experience_seconds")}
    print(
        f"### Cost per training iteration on Split Digits\n\n"
        f"Last of 5 experiences ({args.epochs} epochs), minibatch {MB_SIZE}, MLP {HIDDEN}, "
        f"SGD, no evaluator, {args.device}, {clock_name} time; median of {args.repeats} runs.\n"
    )
    print("| strategy | iterations | ms/iteration in epochs | × naive | ms/iteration, whole "
          "experience | × naive | notes |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in timed:
        epoch = per_iteration(name, "epoch_seconds")
        whole = per_iteration(name, "experience_seconds")
        iterations = statistics.median(t.iterations for t in runs[name])
        settings = ", ".join(f"{k}={v}" for k, v in settings_for(name, "class").items())
        whole_stream = WHOLE_STREAM_NOTE if trains_on_whole_stream(name) else ""
        notes = "; ".join(part for part in (settings, whole_stream) if part)
        print(
            f"| {name} | {iterations:.0f} | {epoch * 1e3:.3f} "
            f"| {epoch / base['epoch_seconds']:.2f} | {whole * 1e3:.3f} "
            f"| {whole / base['experience_seconds']:.2f} | {notes} |"
        )
    for name, reason in skipped.items():
        print(f"| {name} | | | | | | not run: {reason} |")


if __name__ == "__main__":
    main()
