"""MER's training time against naive finetuning's, and the floor its per-sample steps set.

Every run trains on ``parity.py``'s scenario (Split Digits class-incremental or Permuted
Digits, MLP 64-256-10 with the seed's initial weights, SGD lr 0.1, minibatches of 32,
``--epochs`` epochs, no evaluator) and is timed with the process's CPU clock; the runs
go round-robin over the variants, and the median over ``--repeats`` is reported.

The floor is what the paper's per-sample rule costs with no overhead at all: the number
of single-sample SGD steps MER took (counted by its criterion) times the time of one
bare step (forward, criterion, ``torch.autograd.grad``, one ``torch._foreach_add_``) on
the same model, timed in a tight loop. ``n_inner_steps × (minibatch + memory draw)`` such
steps are sequential by definition, so no implementation of the rule goes below it.

Run: ``OMP_NUM_THREADS=1 python benchmarks/mer_cost.py [--repeats 3] [--epochs 5]
[--scenario class-il|domain-il]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch
from parity import BATCH, EPOCHS, argmax_accuracy, make_model, make_scenario
from torch import Tensor, nn

from clhost.templates import SupervisedMetaLearningTemplate, SupervisedTemplate
from clhost_mer import MERPlugin

LR, FLOOR_STEPS = 0.1, 2000
PER_SAMPLE = "MER, per sample (default)"
VARIANTS: dict[str, dict[str, Any] | None] = {  # None: naive finetuning
    "naive": None,
    PER_SAMPLE: {},
    "MER, samples_per_step=None": {"samples_per_step": None},
}


class CountingLoss(nn.CrossEntropyLoss):
    """Cross-entropy that counts its calls by minibatch size."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[int] = Counter()

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        self.calls[len(target)] += 1
        return super().forward(output, target)


def train(
    plugins: list[object] | None, scenario_name: str, seed: int, epochs: int
) -> tuple[float, float, Counter[int]]:
    """(CPU seconds of training, final accuracy, criterion calls by size) of one run:
    naive finetuning when ``plugins`` is None, else the meta-learning template."""
    scenario = make_scenario(scenario_name, seed)
    model = make_model(scenario, seed)
    criterion = CountingLoss()
    template = SupervisedTemplate if plugins is None else SupervisedMetaLearningTemplate
    strategy = template(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=LR),
        criterion=criterion,
        plugins=plugins or [],
        train_mb_size=BATCH,
        train_epochs=epochs,
        evaluator=None,
        device="cpu",
    )
    start = time.process_time()
    for experience in scenario.train_stream:
        strategy.train(experience)
    seconds = time.process_time() - start
    return seconds, argmax_accuracy(model, scenario.test, multi_task=False), criterion.calls


def seconds_per_step(steps: int = FLOOR_STEPS) -> float:
    """CPU seconds of one bare single-sample SGD step on the MLP 64-256-10."""
    scenario = make_scenario("class-il", 0)
    model, criterion = make_model(scenario, 0), nn.CrossEntropyLoss()
    params = list(model.parameters())
    weights = [p.detach() for p in params]
    data = scenario.train[0]
    samples = list(zip(data.x[:42].split(1), data.y[:42].split(1), strict=True))
    start = time.process_time()
    for i in range(steps):
        x, y = samples[i % len(samples)]
        grads = torch.autograd.grad(criterion(model(x), y), params)
        torch._foreach_add_(weights, grads, alpha=-1e-3)
    return (time.process_time() - start) / steps


def plugins_of(options: dict[str, Any] | None) -> list[object] | None:
    """A fresh MER plugin with ``options``; None (naive finetuning) for None."""
    return None if options is None else [MERPlugin(**options)]


def measure(
    variants: Mapping[str, Callable[[], list[object] | None]],
    scenario: str,
    epochs: int,
    repeats: int,
) -> tuple[dict[str, list[tuple[float, float, Counter[int]]]], list[float]]:
    """Every variant's runs (seeds 0.. ``repeats`` − 1, round-robin) and the floor's
    seconds per step, measured once per repeat."""
    runs: dict[str, list[tuple[float, float, Counter[int]]]] = {name: [] for name in variants}
    per_step = []
    for seed in range(repeats):
        for name, plugins in variants.items():
            runs[name].append(train(plugins(), scenario, seed, epochs))
        per_step.append(seconds_per_step())
    return runs, per_step


def report(runs: dict[str, list[tuple[float, float, Counter[int]]]], per_step: list[float]) -> str:
    """The markdown table: accuracy, CPU seconds and × naive per variant, then the floor
    of the per-sample rule."""
    naive = statistics.median(seconds for seconds, _, _ in runs["naive"])
    lines = [
        "| variant | accuracy | CPU s | × naive |",
        "|---|---|---|---|",
    ]
    for name, results in runs.items():
        seconds = statistics.median(result[0] for result in results)
        accuracy = statistics.mean(result[1] for result in results)
        lines.append(f"| {name} | {accuracy:.3f} | {seconds:.2f} | {seconds / naive:.1f} |")
    single = statistics.median(calls[1] for _, _, calls in runs[PER_SAMPLE])
    step = statistics.median(per_step)
    floor = single * step
    lines.append(
        f"| floor: {single:.0f} single-sample steps × {step * 1e6:.0f} µs | | {floor:.2f} "
        f"| {floor / naive:.1f} |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--scenario", choices=("class-il", "domain-il"), default="class-il")
    args = parser.parse_args()
    torch.set_num_threads(1)
    variants = {name: partial(plugins_of, options) for name, options in VARIANTS.items()}
    runs, per_step = measure(variants, args.scenario, args.epochs, args.repeats)
    print(f"{args.scenario}, {args.epochs} epochs, minibatch {BATCH}, SGD lr {LR}, cpu time;")
    print(f"median of {args.repeats} runs (seeds 0..{args.repeats - 1}), mean accuracy\n")
    print(report(runs, per_step))


if __name__ == "__main__":
    main()
