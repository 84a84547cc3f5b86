"""GDumb's greedy class-balancing sampler, as a replay buffer."""

from __future__ import annotations

from typing import Any

import torch

from clhost.data import TensorData
from clhost.rehearsal import ExemplarsBuffer
from clhost.validate import non_negative_int


class GreedyClassBalancedBuffer(ExemplarsBuffer):
    """Stores samples one at a time, keeping the classes (``(task, class)`` pairs) as
    balanced as possible.

    A sample is added while the memory has room. When it is full, a sample of a class
    holding fewer than ``max_size / classes seen`` items replaces a random sample of the
    largest class; otherwise it is dropped (Prabhu, Torr & Dokania 2020, Sec. 3). No class
    order or boundary is needed, so it also works on online streams.
    """

    state_key = "greedy-class-balanced"

    def add(self, strategy: Any, data: TensorData) -> None:
        if len(data) == 0 or self.max_size == 0:
            return
        # Each memory slot points at its sample: ("old", i) in the buffer or ("new", i) in data.
        sources: list[tuple[str, int]] = [("old", i) for i in range(len(self.buffer))]
        slots_of: dict[tuple[int, int], list[int]] = {}
        for slot, key in enumerate(_classes(self.buffer)):
            slots_of.setdefault(key, []).append(slot)
        for index, key in enumerate(_classes(data)):
            if len(sources) < self.max_size:
                slots_of.setdefault(key, []).append(len(sources))
                sources.append(("new", index))
                continue
            classes_seen = len(slots_of) + (key not in slots_of)
            if len(slots_of.get(key, ())) >= self.max_size / classes_seen:
                continue
            largest = max(slots_of, key=lambda c: (len(slots_of[c]), -c[0], -c[1]))
            victims = slots_of[largest]
            slot = victims.pop(int(torch.randint(len(victims), ())))
            sources[slot] = ("new", index)
            slots_of.setdefault(key, []).append(slot)
        self.buffer = self._gather(data, sources)

    def _gather(self, data: TensorData, sources: list[tuple[str, int]]) -> TensorData:
        old = [i for kind, i in sources if kind == "old"]
        new = [i for kind, i in sources if kind == "new"]
        parts = []
        if old:
            parts.append(self.buffer.subset(old))
        if new:
            parts.append(data.subset(new))
        return TensorData.concat(parts)

    def resize(self, strategy: Any, new_size: int) -> None:
        """Shrink by dropping samples of the largest classes first, keeping balance."""
        self.max_size = non_negative_int("new_size", new_size)
        if len(self.buffer) <= new_size:
            return
        counts: dict[tuple[int, int], list[int]] = {}
        for slot, key in enumerate(_classes(self.buffer)):
            counts.setdefault(key, []).append(slot)
        while sum(len(slots) for slots in counts.values()) > new_size:
            largest = max(counts, key=lambda c: (len(counts[c]), -c[0], -c[1]))
            counts[largest].pop()
        kept = sorted(slot for slots in counts.values() for slot in slots)
        self.buffer = self.buffer.subset(kept)


def _classes(data: TensorData) -> list[tuple[int, int]]:
    """Each sample's class as ``(task label, class id)``: in task-incremental streams
    whose class ids restart in each task, class 0 of task 1 is not class 0 of task 0."""
    if len(data) == 0:
        return []
    return list(zip(data.t.tolist(), data.y.tolist(), strict=True))
