"""clhost's Naive strategy (clhost-naive) against a hand-written PyTorch loop doing the same work.

Both train the same model from the same initial weights on the same stream, with the
same optimizer, minibatch size, epochs and shuffling (one ``torch.randperm`` per epoch
from the same seed), so they end with the same weights; the script checks that before
it reports times. clhost runs once without an evaluator and once with the default one
(which also accumulates training accuracy and loss). Only training is timed; the
medians of wall time and of process CPU time (less sensitive to a busy machine) are
reported, with their ratio to the hand-written loop.

    python benchmarks/naive_vs_loop.py [--repeats 7] [--device cpu] [--threads 1]

Cases: (a) Split Digits, MLP 64-256-10, minibatch 32; (b) a synthetic class-incremental
stream of 20,000 x 784 inputs in 5 experiences, MLP 784-400-400-10, minibatch 128.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from clhost.benchmarks import class_incremental, split_digits
from clhost.data import Stream
from clhost.models import SimpleMLP
from clhost.testing import gaussian_blobs
from clhost_naive import Naive


@dataclass
class Case:
    name: str
    stream: Stream
    input_size: int
    hidden_sizes: tuple[int, ...]
    batch_size: int
    epochs: int


def cases() -> list[Case]:
    digits = split_digits(n_experiences=5, seed=0)
    train, test = gaussian_blobs(n_classes=10, n_per_class=2000, n_features=784, seed=0)
    synthetic = class_incremental(train, test, n_experiences=5, seed=0)
    return [
        Case("split-digits, MLP 64-256-10, mb 32", digits.train_stream, 64, (256,), 32, 10),
        Case("synthetic 20000x784, MLP 784-400-400-10, mb 128", synthetic.train_stream, 784,
             (400, 400), 128, 2),
    ]  # fmt: skip


def hand_written(model: nn.Module, case: Case, device: torch.device) -> None:
    """The loop one would write by hand: index batches of each experience's tensors."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    model.train()
    for experience in case.stream:
        x, y = experience.dataset.x.to(device), experience.dataset.y.to(device)
        for _ in range(case.epochs):
            order = torch.randperm(len(y)).to(device)
            for start in range(0, len(y), case.batch_size):
                index = order[start : start + case.batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = criterion(model(x[index]), y[index])
                loss.backward()
                optimizer.step()


def with_clhost(evaluator: Any) -> Callable[[nn.Module, Case, torch.device], None]:
    def train(model: nn.Module, case: Case, device: torch.device) -> None:
        strategy = Naive(
            model=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
            train_mb_size=case.batch_size,
            train_epochs=case.epochs,
            device=device,
            evaluator=evaluator,
        )
        for experience in case.stream:
            strategy.train(experience)

    return train


def on_device(stream: Stream, device: torch.device) -> Stream:
    """The stream with its tensors already on ``device`` (as the hand-written loop has)."""
    return Stream(stream.name, [replace(e, dataset=e.dataset.to(device)) for e in stream])


def timed(
    run: Callable, case: Case, initial: dict, device: torch.device
) -> tuple[float, float, nn.Module]:
    """Wall and CPU seconds of one training run, and the trained model."""
    model = SimpleMLP(10, case.input_size, case.hidden_sizes).to(device)
    model.load_state_dict(initial)
    torch.manual_seed(1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    run(model, case, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    runs = {
        "hand-written": hand_written,
        "clhost, no evaluator": with_clhost(None),
        "clhost, default evaluator": with_clhost("default"),
    }
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} thread(s), "
          f"median of {args.repeats} runs (one warm-up each)")  # fmt: skip
    for case in cases():
        case.stream = on_device(case.stream, device)
        torch.manual_seed(0)
        initial = SimpleMLP(10, case.input_size, case.hidden_sizes).state_dict()
        models = {name: timed(run, case, initial, device)[2] for name, run in runs.items()}
        reference = torch.cat([p.flatten() for p in models["hand-written"].parameters()])
        for name, model in models.items():
            weights = torch.cat([p.flatten() for p in model.parameters()])
            torch.testing.assert_close(weights, reference, msg=f"{name} did other work")
        walls: dict[str, list[float]] = {name: [] for name in runs}
        cpus: dict[str, list[float]] = {name: [] for name in runs}
        names = list(runs)
        for repeat in range(args.repeats):  # interleaved and rotated: drifts hit all alike
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                wall, cpu, _ = timed(runs[name], case, initial, device)
                walls[name].append(wall)
                cpus[name].append(cpu)
        wall = {name: statistics.median(values) for name, values in walls.items()}
        cpu = {name: statistics.median(values) for name, values in cpus.items()}
        iterations = sum(
            -(-len(e) // case.batch_size) * case.epochs for e in case.stream
        )  # ceil division
        print(f"\n{case.name}: {iterations} iterations")
        print(f"  {'':<26} {'wall s':>8} {'us/it':>8} {'ratio':>6}   {'CPU s':>8} {'ratio':>6}")
        for name in runs:
            print(f"  {name:<26} {wall[name]:8.3f} {1e6 * wall[name] / iterations:8.1f} "
                  f"{wall[name] / wall['hand-written']:6.3f}   {cpu[name]:8.3f} "
                  f"{cpu[name] / cpu['hand-written']:6.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
