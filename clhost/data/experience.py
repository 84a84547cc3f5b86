"""Experiences, streams and benchmarks: the vocabulary of continual learning."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from clhost.data.tensors import TensorData, as_classification_data
from clhost.errors import ParameterError


@dataclass(eq=False)
class Experience:
    """One step of a stream: a dataset yielding ``(x, y, t)`` and what is known about it.

    ``classes_seen_so_far`` includes this experience's classes; ``previous_classes``
    does not. Both follow stream order, so an experience knows nothing of the future.
    A mini-experience made by ``clhost.benchmarks.split_online`` records the index of the
    experience it was cut from (``origin_experience``, None otherwise) and whether it is
    the first or last piece of it, for online methods allowed to know task boundaries.
    """

    dataset: Any
    current_experience: int
    origin_stream: str = "train"
    classes_in_this_experience: tuple[int, ...] = ()
    task_labels: tuple[int, ...] = (0,)
    previous_classes: tuple[int, ...] = ()
    classes_seen_so_far: tuple[int, ...] = ()
    origin_experience: int | None = None
    is_first_subexp: bool = True
    is_last_subexp: bool = True

    @property
    def task_label(self) -> int:
        """The task label of this experience: its only one, 0 when it names none. An
        experience of several tasks has no single label (its samples carry their own):
        asking is an error."""
        if len(self.task_labels) > 1:
            raise ValueError(
                f"experience {self.current_experience} has several task labels "
                f"{self.task_labels}; read each sample's label instead"
            )
        return self.task_labels[0] if self.task_labels else 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __repr__(self) -> str:
        return (
            f"Experience({self.origin_stream}[{self.current_experience}], n={len(self)}, "
            f"classes={list(self.classes_in_this_experience)}, tasks={list(self.task_labels)})"
        )


class Stream(Sequence[Experience]):
    """A named, ordered sequence of experiences; slicing keeps the name."""

    def __init__(self, name: str, experiences: Sequence[Experience]):
        self.name = name
        self._experiences = list(experiences)

    @overload
    def __getitem__(self, index: int) -> Experience: ...
    @overload
    def __getitem__(self, index: slice) -> Stream: ...
    def __getitem__(self, index: int | slice) -> Experience | Stream:
        if isinstance(index, slice):
            return Stream(self.name, self._experiences[index])
        return self._experiences[index]

    def __len__(self) -> int:
        return len(self._experiences)

    def __iter__(self) -> Iterator[Experience]:
        return iter(self._experiences)

    def __repr__(self) -> str:
        return f"Stream({self.name!r}, {len(self)} experiences)"


@dataclass(eq=False)
class Benchmark:
    """Train and test streams over the same classes, plus facts models need."""

    name: str
    train_stream: Stream
    test_stream: Stream
    n_classes: int
    input_shape: tuple[int, ...]
    other_streams: dict[str, Stream] = field(default_factory=dict)

    @property
    def streams(self) -> dict[str, Stream]:
        return {"train": self.train_stream, "test": self.test_stream, **self.other_streams}

    @property
    def n_experiences(self) -> int:
        return len(self.train_stream)

    @property
    def n_tasks(self) -> int:
        return len({t for exp in self.train_stream for t in exp.task_labels})


def experience_data(experience: Experience) -> Any:
    """The experience's own samples as a dataset yielding ``(x, y, t)`` (``TensorData``
    when they are tensors): what plugins read, whatever another plugin made the strategy
    train on (``strategy.adapted_dataset``). Samples without a task label get the
    experience's (the first one of a multi-task experience, whose samples carry theirs)."""
    labels = experience.task_labels
    return as_classification_data(experience.dataset, labels[0] if labels else 0)


def experience_classes(experience: Experience) -> list[int]:
    """The classes ``experience`` brings, sorted: its ``classes_in_this_experience``, else
    the labels of its samples when they are tensors. For methods that must tell old
    classes from new ones (LwF, iCaRL); an experience that tells neither is an error."""
    if experience.classes_in_this_experience:
        return sorted(int(label) for label in experience.classes_in_this_experience)
    data = experience_data(experience)
    if isinstance(data, TensorData):
        return data.classes
    raise ParameterError(
        f"experience {experience.current_experience} names no classes and its samples are "
        "not tensors: say which classes it brings (Experience's classes_in_this_experience)"
    )
