"""Class-incremental and task-incremental streams: each experience brings new classes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from clhost.benchmarks._datasets import input_shape_of, part, prepare, targets_of
from clhost.benchmarks._streams import build_stream
from clhost.data import Benchmark
from clhost.errors import ParameterError

PerExpClasses = Sequence[int] | Mapping[int, int]


def class_incremental(
    train: Any,
    test: Any,
    n_experiences: int,
    *,
    seed: int | None = None,
    fixed_class_order: Sequence[int] | None = None,
    per_exp_classes: PerExpClasses | None = None,
    task_labels: bool = False,
    class_ids_from_zero_in_each_exp: bool = False,
    name: str = "class-incremental",
) -> Benchmark:
    """Split the classes of ``train``/``test`` into ``n_experiences`` disjoint groups.

    The class order is ``fixed_class_order`` when given (every class exactly once),
    otherwise ascending, shuffled by ``seed`` when it is not None. Classes are dealt out
    evenly, or by ``per_exp_classes``: a count per experience, or ``{experience: count}``
    with the remaining classes spread evenly over the other experiences.
    With ``task_labels`` experience ``i`` has task label ``i`` (else every sample is task
    0). With ``class_ids_from_zero_in_each_exp`` the classes of each experience are
    relabelled ``0..k-1`` in class order. ``n_classes`` of the result is the number of
    label values the streams use, i.e. the outputs a single-head model needs.
    """
    train, test = prepare(train, "train"), prepare(test, "test")
    train_targets, test_targets = targets_of(train), targets_of(test)
    classes = sorted(torch.unique(train_targets).tolist())
    unknown = sorted(set(torch.unique(test_targets).tolist()) - set(classes))
    if unknown:
        raise ParameterError(f"test has classes {unknown} that train does not have")
    order = class_order(classes, seed, fixed_class_order)
    groups = split_classes(order, n_experiences, per_exp_classes)

    def stream(stream_name: str, data: Any, targets: Tensor) -> Any:
        parts = []
        for index, group in enumerate(groups):
            task = index if task_labels else 0
            indices = torch.isin(targets, torch.tensor(group)).nonzero().squeeze(1)
            lookup, labels = None, group
            if class_ids_from_zero_in_each_exp:
                lookup = torch.full((max(classes) + 1,), -1, dtype=torch.long)
                lookup[torch.tensor(group)] = torch.arange(len(group))
                labels = list(range(len(group)))
            parts.append((part(data, indices, task, lookup), labels, [task]))
        return build_stream(stream_name, parts)

    train_stream = stream("train", train, train_targets)
    return Benchmark(
        name=name,
        train_stream=train_stream,
        test_stream=stream("test", test, test_targets),
        n_classes=len(train_stream[-1].classes_seen_so_far),
        input_shape=input_shape_of(train),
    )


def task_incremental(
    train: Any,
    test: Any,
    n_experiences: int,
    *,
    seed: int | None = None,
    fixed_class_order: Sequence[int] | None = None,
    per_exp_classes: PerExpClasses | None = None,
    class_ids_from_zero_in_each_exp: bool = False,
    name: str = "task-incremental",
) -> Benchmark:
    """``class_incremental`` where experience ``i`` is task ``i`` (for multi-head models)."""
    return class_incremental(
        train,
        test,
        n_experiences,
        seed=seed,
        fixed_class_order=fixed_class_order,
        per_exp_classes=per_exp_classes,
        task_labels=True,
        class_ids_from_zero_in_each_exp=class_ids_from_zero_in_each_exp,
        name=name,
    )


def class_order(
    classes: Sequence[int], seed: int | None, fixed_class_order: Sequence[int] | None
) -> list[int]:
    """``fixed_class_order`` (checked), else ``classes`` shuffled by ``seed`` (if any)."""
    if fixed_class_order is not None:
        fixed = [int(c) for c in fixed_class_order]
        if sorted(fixed) != sorted(classes):
            missing = sorted(set(classes) - set(fixed))
            extra = sorted(set(fixed) - set(classes))
            repeated = sorted({c for c in fixed if fixed.count(c) > 1})
            raise ParameterError(
                "fixed_class_order must list every class of the data exactly once "
                f"(missing {missing}, not in the data {extra}, repeated {repeated})"
            )
        return fixed
    if seed is None:
        return list(classes)
    generator = torch.Generator().manual_seed(int(seed))
    return [classes[i] for i in torch.randperm(len(classes), generator=generator).tolist()]


def split_classes(
    order: Sequence[int], n_experiences: int, per_exp_classes: PerExpClasses | None
) -> list[list[int]]:
    """Consecutive groups of ``order``, sized evenly or by ``per_exp_classes``."""
    n_classes = len(order)
    if not isinstance(n_experiences, int) or not 1 <= n_experiences <= n_classes:
        raise ParameterError(
            f"n_experiences must be an integer from 1 to {n_classes} (the number of classes), "
            f"got {n_experiences!r}"
        )
    sizes = _group_sizes(n_classes, n_experiences, per_exp_classes)
    bounds = torch.tensor([0, *sizes]).cumsum(0).tolist()
    return [list(order[start:stop]) for start, stop in zip(bounds, bounds[1:], strict=False)]


def _group_sizes(
    n_classes: int, n_experiences: int, per_exp_classes: PerExpClasses | None
) -> list[int]:
    fixed: dict[int, int] = {}
    if isinstance(per_exp_classes, Mapping):
        fixed = {int(k): int(v) for k, v in per_exp_classes.items()}
        if not all(0 <= k < n_experiences for k in fixed):
            raise ParameterError(
                f"per_exp_classes keys must be experience indices below {n_experiences}, "
                f"got {sorted(fixed)}"
            )
    elif per_exp_classes is not None:
        sizes = [int(v) for v in per_exp_classes]
        if len(sizes) != n_experiences or sum(sizes) != n_classes or min(sizes) < 1:
            raise ParameterError(
                f"per_exp_classes must give {n_experiences} positive counts summing to "
                f"{n_classes} classes, got {sizes}"
            )
        return sizes
    if any(v < 1 for v in fixed.values()):
        raise ParameterError(f"per_exp_classes counts must be positive, got {fixed}")
    rest_classes = n_classes - sum(fixed.values())
    rest_experiences = n_experiences - len(fixed)
    if rest_experiences == 0 and rest_classes == 0:
        return [fixed[i] for i in range(n_experiences)]
    if rest_experiences == 0 or rest_classes < rest_experiences or rest_classes % rest_experiences:
        what = f"{n_classes} classes" if not fixed else f"the {rest_classes} remaining classes"
        raise ParameterError(
            f"cannot split {what} evenly into {rest_experiences} experiences "
            "(n_experiences); give per_exp_classes to choose the size of each experience"
        )
    even = rest_classes // rest_experiences
    return [fixed.get(i, even) for i in range(n_experiences)]
