"""Expert Gate's cost per training iteration against naive finetuning's.

``iteration_cost.py``'s protocol (Split Digits, here with task labels so every experience
is a task; MLP ``HIDDEN``, SGD, minibatch 32, no evaluator; the last experience timed
over ``--epochs`` epochs after one epoch of each earlier one; CPU time, median of
``--repeats`` runs, round-robin), which builds every strategy on a plain MLP: Expert Gate
trains an ``ExpertGate`` model, here on that MLP as its backbone. "In epochs" carries the
LwF term when the last expert learns from a related one (a frozen expert's forward pass
per minibatch); "whole experience" adds the autoencoder's training and the relatedness.

Run: ``OMP_NUM_THREADS=1 python benchmarks/expert_gate_cost.py [--repeats 5] [--epochs 10]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from iteration_cost import LR, MB_SIZE, EpochTimer, Timing
from regularization_cost import HIDDEN

from clhost.benchmarks import split_digits
from clhost.models import SimpleMLP
from clhost.templates import SupervisedTemplate
from clhost_expert_gate import ExpertGate, ExpertGateStrategy


def time_last_experience(name: str, epochs: int) -> tuple[Timing, int]:
    """Timing of the last experience, and the expert it learnt from with LwF (-1: none)."""
    stream = split_digits(seed=0, task_labels=True).train_stream
    timer = EpochTimer("cpu", time.process_time)
    torch.manual_seed(0)
    model = SimpleMLP(10, 64, HIDDEN)
    cls = SupervisedTemplate
    if name == "expert-gate":
        cls, model = ExpertGateStrategy, ExpertGate(model)
    strategy = cls(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=LR),
        train_mb_size=MB_SIZE,
        train_epochs=1,
        evaluator=None,
        plugins=[timer],
    )
    strategy.train(stream[:-1])
    strategy.train_epochs, timer.seconds = epochs, 0.0
    start = time.process_time()
    result = strategy.train(stream[-1])
    seconds = time.process_time() - start
    teacher = int(model.expert(-1).teacher) if isinstance(model, ExpertGate) else -1
    return Timing(result.iterations, timer.seconds, seconds), teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    runs: dict[str, list[Timing]] = {"naive": [], "expert-gate": []}
    teacher = -1
    for _ in range(args.repeats):
        for name, timings in runs.items():
            timing, teacher = time_last_experience(name, args.epochs)
            timings.append(timing)

    def per_iteration(name: str, field: str) -> float:
        return statistics.median(getattr(t, field) / t.iterations for t in runs[name])

    print(f"MLP {HIDDEN}, last of 5 experiences, {args.epochs} epochs, CPU time; ", end="")
    print(f"the last expert {'learns with LwF' if teacher >= 0 else 'is fine-tuned'}\n")
    print(
        "| strategy | iterations | ms/iteration in epochs | × naive | whole experience | × naive |"
    )
    print("|---|---|---|---|---|---|")
    for name, timings in runs.items():
        epoch, whole = (per_iteration(name, f) for f in ("epoch_seconds", "experience_seconds"))
        base = [per_iteration("naive", f) for f in ("epoch_seconds", "experience_seconds")]
        print(
            f"| {name} | {timings[0].iterations} | {epoch * 1e3:.3f} | {epoch / base[0]:.2f} "
            f"| {whole * 1e3:.3f} | {whole / base[1]:.2f} |"
        )


if __name__ == "__main__":
    main()
