"""Online experience replay: clhost's online template vs a hand-written loop.

A 10,000-sample class-incremental stream (10 Gaussian classes, 64 features, 5
experiences) arrives in mini-experiences of 10 samples. Each one is trained once,
joined by 10 samples drawn uniformly from a 200-sample reservoir memory that then takes
it in. Both sides use the same model, initial weights, optimizer, memory policy (uniform
reservoir sampling) and incoming minibatches:

- clhost: ``OnlineSupervisedTemplate`` (boundaries known, no evaluator) with the shipped
  ``ReplayPlugin`` over a ``ReservoirSamplingBuffer``;
- by hand: a loop over the same minibatches with a preallocated reservoir (Algorithm R).

Prints the wall time of each (best of ``--repeats``, runs interleaved so that a busy
machine slows both alike) and the ratio clhost / by hand, for replay and, to isolate the
template's own cost, for the same loop without replay (online naive); with ``--profile``
also the functions where clhost's replay run spends its time.

    python benchmarks/online_er.py [--device cuda] [--hidden 256] [--repeats 5]
                                   [--clock wall|cpu] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from clhost.benchmarks import class_incremental, split_online
from clhost.data import Stream
from clhost.models import SimpleMLP
from clhost.templates import OnlineSupervisedTemplate
from clhost.testing import gaussian_blobs
from clhost_buffer_reservoir import ReservoirSamplingBuffer
from clhost_replay import ReplayPlugin

MEM_SIZE, BATCH, BATCH_MEM = 200, 10, 10


def make_stream(device: torch.device) -> Stream:
    train, test = gaussian_blobs(n_classes=10, n_per_class=1000, n_features=64, seed=0)
    stream = class_incremental(train.to(device), test.to(device), 5, seed=0).train_stream
    return split_online(stream, BATCH, shuffle=True, seed=0)


def make_model(hidden: int, device: torch.device) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(hidden,)).to(device)
    return model, torch.optim.SGD(model.parameters(), lr=0.05)


def run_clhost(
    stream: Stream, hidden: int, device: torch.device, replay: bool = True
) -> OnlineSupervisedTemplate:
    model, optimizer = make_model(hidden, device)
    plugins = []
    if replay:
        buffer = ReservoirSamplingBuffer(MEM_SIZE)
        plugins.append(
            ReplayPlugin(mem_size=MEM_SIZE, batch_size_mem=BATCH_MEM, storage_policy=buffer)
        )
    strategy = OnlineSupervisedTemplate(
        model=model,
        optimizer=optimizer,
        train_mb_size=BATCH,
        boundaries_known=True,
        device=device,
        plugins=plugins,
        evaluator=None,
    )
    strategy.train(stream)
    return strategy


def run_by_hand(
    stream: Stream, hidden: int, device: torch.device, replay: bool = True
) -> torch.nn.Module:
    model, optimizer = make_model(hidden, device)
    if not replay:
        for experience in stream:
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(experience.dataset.x), experience.dataset.y).backward()
            optimizer.step()
        return model
    first = stream[0].dataset
    memory_x = torch.empty(MEM_SIZE, *first.x.shape[1:], device=device)
    memory_y = torch.empty(MEM_SIZE, dtype=torch.long, device=device)
    seen = 0
    for experience in stream:
        x, y = experience.dataset.x, experience.dataset.y
        filled = min(seen, MEM_SIZE)
        if filled:
            chosen = torch.randperm(filled)[:BATCH_MEM].to(device)
            inputs = torch.cat((x, memory_x[chosen]))
            targets = torch.cat((y, memory_y[chosen]))
        else:
            inputs, targets = x, y
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
        slots, rows = [], []
        for row in range(len(y)):  # Algorithm R: keep each sample with prob MEM_SIZE / seen
            slot = seen if seen < MEM_SIZE else int(torch.randint(seen + 1, ()))
            seen += 1
            if slot < MEM_SIZE:
                slots.append(slot)
                rows.append(row)
        if slots:
            where, which = torch.tensor(slots, device=device), torch.tensor(rows, device=device)
            memory_x[where], memory_y[where] = x[which], y[which]
    return model


def best_times(
    runs: dict[str, Callable[[], object]],
    repeats: int,
    device: torch.device,
    clock: Callable[[], float],
) -> dict[str, float]:
    """The best time of each run over ``repeats`` rounds, the runs interleaved."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = clock()
            run()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(clock() - start)
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: this process's CPU time, steadier than wall time on a shared machine",
    )
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    device, hidden = torch.device(args.device), args.hidden
    stream = make_stream(device)
    run_clhost(stream[:20], hidden, device)  # warm up both paths
    run_by_hand(stream[:20], hidden, device)
    best = best_times(
        {
            "replay by hand": lambda: run_by_hand(stream, hidden, device),
            "replay clhost": lambda: run_clhost(stream, hidden, device),
            "naive by hand": lambda: run_by_hand(stream, hidden, device, replay=False),
            "naive clhost": lambda: run_clhost(stream, hidden, device, replay=False),
        },
        args.repeats,
        device,
        clock,
    )
    samples = sum(len(e) for e in stream)
    print(f"stream: {samples} samples in {len(stream)} mini-experiences of {BATCH}, {device}")
    print(f"model: SimpleMLP(64 -> {hidden} -> 10), replay {BATCH_MEM} of {MEM_SIZE}")
    print(f"{args.clock} time, best of {args.repeats}")
    for kind in ("replay", "naive"):
        hand, ours = best[f"{kind} by hand"], best[f"{kind} clhost"]
        print(f"{kind:>6}: by hand {hand:.3f} s   clhost {ours:.3f} s   ratio {ours / hand:.2f}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_clhost, stream, hidden, device)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
