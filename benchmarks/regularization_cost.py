"""Cost of one training iteration of each regularization method, relative to naive finetuning.

Every method is timed in its steady state: the strategy first trains on all experiences
but the last (so previous models, importances and memories exist), then its training on
the last experience is timed and divided by the number of iterations. Naive finetuning is
timed the same way and every ratio is relative to it. The median of ``--repeats`` runs,
each from the same seed, is reported; methods take turns within each repeat.

Each method is one function below returning the plugins it adds; add a method by writing
its function and listing it in ``METHODS``.

Run: ``python benchmarks/regularization_cost.py [--benchmark permuted|task|class]
[--device cuda] [--repeats 5] [--epochs 5] [--methods lwf,gem]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from clhost.benchmarks import permuted_digits, split_digits
from clhost.data import Benchmark
from clhost.models import IncrementalMLP, MultiHeadMLP, SimpleMLP
from clhost.templates import SupervisedTemplate

HIDDEN = (256, 256)


def naive() -> list[object]:
    return []


def lwf() -> list[object]:
    from clhost_lwf import LwFPlugin

    return [LwFPlugin(alpha=1.0, temperature=2.0)]


def lfl() -> list[object]:
    from clhost_lfl import LFLPlugin

    return [LFLPlugin(lambda_e=0.1)]


def agem() -> list[object]:
    from clhost_agem import AGEMPlugin

    return [AGEMPlugin(patterns_per_experience=250, sample_size=256)]


def gem() -> list[object]:
    from clhost_gem import GEMPlugin

    return [GEMPlugin(patterns_per_experience=256, memory_strength=0.5)]


def ewc() -> list[object]:
    from clhost_ewc import EWCPlugin

    return [EWCPlugin(ewc_lambda=1000.0)]


def ewc_online() -> list[object]:
    from clhost_ewc import EWCPlugin

    return [EWCPlugin(ewc_lambda=1000.0, mode="online", decay_factor=0.9)]


def si() -> list[object]:
    from clhost_synaptic_intelligence import SynapticIntelligencePlugin

    return [SynapticIntelligencePlugin(si_lambda=0.1)]


def mas() -> list[object]:
    from clhost_mas import MASPlugin

    return [MASPlugin(lambda_reg=0.3)]


def rwalk() -> list[object]:
    from clhost_rwalk import RWalkPlugin

    return [RWalkPlugin(ewc_lambda=0.3)]


METHODS: dict[str, Callable[[], list[object]]] = {
    "naive": naive,
    "ewc": ewc,
    "ewc-online": ewc_online,
    "si": si,
    "mas": mas,
    "rwalk": rwalk,
    "lwf": lwf,
    "lfl": lfl,
    "agem": agem,
    "gem": gem,
}

SETTINGS: dict[str, Callable[[], tuple[Benchmark, nn.Module]]] = {
    "permuted": lambda: (permuted_digits(), SimpleMLP(10, 64, HIDDEN)),
    "task": lambda: (split_digits(task_labels=True), MultiHeadMLP(64, HIDDEN)),
    "class": lambda: (split_digits(), IncrementalMLP(64, HIDDEN)),
}


def seconds_per_iteration(
    method: Callable[[], list[object]], setting: str, device: str, epochs: int, mb_size: int
) -> float:
    """Seconds per iteration of training on the last experience, after the others."""
    torch.manual_seed(0)
    benchmark, model = SETTINGS[setting]()
    strategy = SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        plugins=method(),
        train_mb_size=mb_size,
        train_epochs=epochs,
        device=device,
        evaluator=None,
    )
    strategy.train(benchmark.train_stream[:-1])
    _synchronize(device)
    start = time.perf_counter()
    result = strategy.train(benchmark.train_stream[-1])
    _synchronize(device)
    return (time.perf_counter() - start) / result.iterations


def _synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", choices=sorted(SETTINGS), default="permuted")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--mb-size", type=int, default=32)
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    names = ["naive", *(n for n in args.methods.split(",") if n and n != "naive")]
    unknown = sorted(set(names) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    # Methods take turns within each repeat, so a machine busy for a while slows them all.
    runs: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:
            runs[name].append(
                seconds_per_iteration(
                    METHODS[name], args.benchmark, args.device, args.epochs, args.mb_size
                )
            )
    timings = {name: statistics.median(seconds) for name, seconds in runs.items()}
    print(
        f"{args.benchmark} digits, MLP {HIDDEN}, minibatch {args.mb_size}, {args.device}, "
        f"last of 5 experiences, median of {args.repeats}"
    )
    print(f"{'method':<10} {'ms/iteration':>13} {'x naive':>8}")
    for name, seconds in timings.items():
        print(f"{name:<10} {seconds * 1e3:>13.3f} {seconds / timings['naive']:>8.2f}")


if __name__ == "__main__":
    main()
