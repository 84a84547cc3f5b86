"""Replay buffer costs: update time as the stream grows, and memory per sample held.

(a) Time of each ``update_from_data`` over 100 small experiences. Updates work on the
    experience and the samples held, never on the history, so the 100th costs what the
    first did when the groups stay the same (recurring classes). When every experience
    brings new classes, each update resizes every class group, so it grows with the
    number of classes held (not with the experiences seen); shown for comparison.
(b) Bytes of every tensor storage a buffer keeps alive, against the bytes of the samples
    it holds (``TensorData.nbytes``): buffers hold compact copies, not views or chains.

Run: ``python benchmarks/buffers.py [--device cuda] [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import torch
from torch import Tensor

from clhost.benchmarks import split_digits
from clhost.data import TensorData
from clhost.rehearsal import ExemplarsBuffer
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_buffer_experience_balanced import ExperienceBalancedBuffer
from clhost_buffer_parametric import ParametricBuffer
from clhost_buffer_reservoir import ReservoirSamplingBuffer

EXPERIENCES = 100


def recurring_classes(device: str) -> list[TensorData]:
    """100 experiences of 50 UCI digits each, drawn from all 10 classes."""
    digits = TensorData.concat([exp.dataset for exp in split_digits(seed=0).train_stream])
    generator = torch.Generator().manual_seed(0)
    return [
        digits.subset(torch.randint(len(digits), (50,), generator=generator)).to(device)
        for _ in range(EXPERIENCES)
    ]


def new_classes_each_time(device: str) -> list[TensorData]:
    """100 experiences of 2 new classes (50 samples of 64 features each)."""
    generator = torch.Generator().manual_seed(0)
    return [
        TensorData(
            torch.rand(50, 64, generator=generator),
            torch.arange(2 * step, 2 * step + 2).repeat_interleave(25),
        ).to(device)
        for step in range(EXPERIENCES)
    ]


def update_times(make: Callable[[], ExemplarsBuffer], stream: list[TensorData]) -> list[float]:
    buffer, times = make(), []
    for data in stream:
        synchronize()
        start = time.perf_counter()
        buffer.update_from_data(data)
        synchronize()
        times.append(time.perf_counter() - start)
    return times


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def report_update_times(device: str, repeats: int) -> None:
    print(f"(a) update time per experience, fastest of {repeats} runs ({device})")
    print(f"{'buffer / stream':48} {'exp 1-5':>9} {'exp 96-100':>11} {'ratio':>6}")
    cases = [
        ("class-balanced(200), recurring 10 classes", partial(ClassBalancedBuffer, 200), False),
        ("reservoir(200), recurring 10 classes", partial(ReservoirSamplingBuffer, 200), False),
        ("class-balanced(2000), 2 new classes each", partial(ClassBalancedBuffer, 2000), True),
        ("experience-balanced(2000), 100 groups", partial(ExperienceBalancedBuffer, 2000), False),
    ]
    for label, make, new_classes in cases:
        stream = new_classes_each_time(device) if new_classes else recurring_classes(device)
        runs = [update_times(make, stream) for _ in range(repeats)]
        per_step = [min(run[step] for run in runs) for step in range(EXPERIENCES)]
        early, late = statistics.median(per_step[:5]), statistics.median(per_step[-5:])
        print(f"{label:48} {early * 1e3:7.3f}ms {late * 1e3:9.3f}ms {late / early:6.2f}")


def tensors_in(value: Any, seen: set[int]) -> Iterator[Tensor]:
    """Every tensor reachable from ``value`` through attributes, dicts and lists."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item, seen)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensors_in(item, seen)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        yield from tensors_in(vars(value), seen)


def storage_bytes(buffer: ExemplarsBuffer) -> int:
    storages = {}
    for tensor in tensors_in(buffer, set()):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


def report_memory(device: str) -> None:
    print(f"\n(b) memory kept alive vs bytes of the samples held ({device})")
    print(f"{'buffer':44} {'held':>5} {'sample bytes':>13} {'storage bytes':>14} {'ratio':>6}")
    stream = recurring_classes(device)
    buffers = {
        "reservoir(200)": ReservoirSamplingBuffer(200),
        "class-balanced(200)": ClassBalancedBuffer(200),
        "experience-balanced(200)": ExperienceBalancedBuffer(200),
        "parametric(200, groupby=class, random)": ParametricBuffer(200, groupby="class"),
        "class-balanced(2000) after resize to 500": ClassBalancedBuffer(2000),
    }
    for label, buffer in buffers.items():
        for data in stream:
            buffer.update_from_data(data.with_extra("logits", torch.randn(len(data), 10)))
        if label.endswith("resize to 500"):
            buffer.resize(None, 500)
        held, stored = buffer.buffer.nbytes(), storage_bytes(buffer)
        print(f"{label:44} {len(buffer):5} {held:13,} {stored:14,} {stored / held:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    report_update_times(args.device, args.repeats)
    report_memory(args.device)


if __name__ == "__main__":
    main()
