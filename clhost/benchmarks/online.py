"""Online streams: every experience cut into mini-experiences of a few samples."""

from __future__ import annotations

import torch

from clhost.benchmarks._datasets import select, targets_of, task_labels_of
from clhost.data import Experience, Stream
from clhost.errors import ParameterError


def split_online(
    stream: Stream,
    experience_size: int,
    *,
    shuffle: bool = False,
    seed: int | None = None,
    drop_last: bool = False,
) -> Stream:
    """Cut each experience of ``stream`` into consecutive mini-experiences of
    ``experience_size`` samples (the last one of an experience may be smaller, unless
    ``drop_last``), after shuffling each experience with ``seed`` when ``shuffle``.

    Each mini-experience lists the classes and task labels it really holds, knows the
    experience it came from (``origin_experience``) and whether it is the first or last
    piece of it (``is_first_subexp``/``is_last_subexp``).
    """
    if not isinstance(experience_size, int) or experience_size < 1:
        raise ParameterError(f"experience_size must be a positive integer, got {experience_size!r}")
    if seed is not None and not shuffle:
        raise ParameterError("seed only orders a shuffled split; pass shuffle=True with it")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    pieces: list[Experience] = []
    seen: tuple[int, ...] = ()
    for origin in stream:
        n = len(origin)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % experience_size if drop_last else n
        chunks = list(torch.split(order[:stop], experience_size))
        for position, chunk in enumerate(chunks):
            dataset = select(origin.dataset, chunk)
            classes = tuple(torch.unique(targets_of(dataset)).tolist())
            previous, seen = seen, tuple(sorted({*seen, *classes}))
            pieces.append(
                Experience(
                    dataset,
                    len(pieces),
                    stream.name,
                    classes_in_this_experience=classes,
                    task_labels=tuple(torch.unique(task_labels_of(dataset)).tolist()),
                    previous_classes=previous,
                    classes_seen_so_far=seen,
                    origin_experience=origin.current_experience,
                    is_first_subexp=position == 0,
                    is_last_subexp=position == len(chunks) - 1,
                )
            )
    if not pieces:
        raise ParameterError(
            f"no experience of {stream!r} has experience_size={experience_size} samples "
            "to keep with drop_last=True"
        )
    return Stream(stream.name, pieces)
