"""Assemble experiences into a stream, tracking which classes each one has seen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clhost.data import Experience, Stream


def build_stream(name: str, parts: Sequence[tuple[Any, Sequence[int], Sequence[int]]]) -> Stream:
    """A stream of ``(dataset, classes, task_labels)`` parts, in order."""
    experiences: list[Experience] = []
    seen: tuple[int, ...] = ()
    for index, (dataset, classes, tasks) in enumerate(parts):
        previous, seen = seen, tuple(sorted({*seen, *classes}))
        experiences.append(
            Experience(
                dataset,
                index,
                name,
                classes_in_this_experience=tuple(sorted(classes)),
                task_labels=tuple(sorted(set(tasks))),
                previous_classes=previous,
                classes_seen_so_far=seen,
            )
        )
    return Stream(name, experiences)
