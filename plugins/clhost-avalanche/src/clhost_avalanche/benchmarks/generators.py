"""Avalanche's benchmark generators, built by clhost's stream builders.

The streams are clhost ``Stream``s of ``Experience``s (``current_experience``,
``classes_in_this_experience``, ``task_labels``, ``dataset``), the benchmark a clhost
``Benchmark`` (``train_stream``, ``test_stream``, ``n_classes``, ``n_experiences``).
``nc_benchmark`` and ``class_incremental_benchmark`` order classes as Avalanche does: the
ascending classes permuted by torch's global generator, seeded first when a seed is given
(so the same seed gives Avalanche's class order, and the same global random state after).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from clhost.benchmarks import class_incremental, domain_incremental
from clhost.data import Stream, TensorData, as_classification_data
from clhost_avalanche._exports import not_supported
from clhost_avalanche.benchmarks.scenario import AvalancheBenchmark, avalanche_benchmark

NO_TRANSFORMS = "apply transforms to the tensors first, or read images with clhost-vision"


UNMIRRORED_OPTIONS = {
    **dict.fromkeys(
        (
            "train_transform",
            "eval_transform",
            "train_target_transform",
            "eval_target_transform",
            "other_streams_transforms",
        ),
        NO_TRANSFORMS,
    ),
    **dict.fromkeys(
        (
            "class_ids_from_zero_from_first_exp",
            "one_dataset_per_exp",
            "reproducibility_data",
            "balance_experiences",
            "min_class_patterns_in_exp",
            "other_streams_datasets",
            "other_streams_tensors",
            "complete_test_set_only",
        ),
        "build the streams with clhost.benchmarks directly",
    ),
}
"""Generator options the layer does not mirror, and what to do instead."""


def _refuse(function: str, arguments: dict[str, Any]) -> None:
    """One line for the first unmirrored option ``arguments`` gives a value."""
    for name, alternative in UNMIRRORED_OPTIONS.items():
        if arguments.get(name):
            raise not_supported(f"{function}({name}=...)", alternative)


def _single(dataset: Any, function: str) -> Any:
    if isinstance(dataset, list | tuple) and not isinstance(dataset[0], torch.Tensor):
        raise not_supported(f"{function} with a list of datasets", "concatenate them first")
    return dataset


def _random_seed(shuffle: bool, seed: int | None) -> int | None:
    if not shuffle:
        return None
    return int(torch.randint(2**31 - 1, ())) if seed is None else seed


def _avalanche_class_order(
    train: Any, shuffle: bool, seed: int | None, fixed: Sequence[int] | None
) -> Sequence[int] | None:
    """Avalanche's class order: ``fixed`` as given, ascending without ``shuffle``, else the
    ascending classes permuted by torch's global generator after ``manual_seed(seed)``."""
    if fixed is not None or not shuffle:
        return fixed
    if seed is not None:
        torch.random.manual_seed(seed)
    data = as_classification_data(train)
    targets = data.y if isinstance(data, TensorData) else getattr(data, "targets", None)
    if targets is None:  # clhost's generator says what the dataset lacks
        return None
    classes = torch.unique(torch.as_tensor(targets), sorted=True)
    return classes[torch.randperm(len(classes))].tolist()


def nc_benchmark(
    train_dataset: Any,
    test_dataset: Any,
    n_experiences: int,
    task_labels: bool,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    fixed_class_order: Sequence[int] | None = None,
    per_exp_classes: Mapping[int, int] | None = None,
    class_ids_from_zero_from_first_exp: bool = False,
    class_ids_from_zero_in_each_exp: bool = False,
    one_dataset_per_exp: bool = False,
    train_transform: Any = None,
    eval_transform: Any = None,
    reproducibility_data: Any = None,
) -> AvalancheBenchmark:
    """New classes in each experience: ``clhost.benchmarks.class_incremental``."""
    _refuse("nc_benchmark", locals())
    train = _single(train_dataset, "nc_benchmark")
    return avalanche_benchmark(
        class_incremental(
            train,
            _single(test_dataset, "nc_benchmark"),
            n_experiences,
            fixed_class_order=_avalanche_class_order(train, shuffle, seed, fixed_class_order),
            per_exp_classes=per_exp_classes,
            task_labels=task_labels,
            class_ids_from_zero_in_each_exp=class_ids_from_zero_in_each_exp,
            name="nc_benchmark",
        )
    )


def class_incremental_benchmark(
    datasets_dict: Mapping[str, Any],
    *,
    class_order: Sequence[int] | None = None,
    num_experiences: int | None = None,
    num_classes_per_exp: Sequence[int] | None = None,
    seed: int | None = None,
) -> AvalancheBenchmark:
    """Avalanche's newer class-incremental generator (``{"train": ..., "test": ...}``)."""
    if (num_experiences is None) == (num_classes_per_exp is None):
        raise ValueError("give exactly one of num_experiences and num_classes_per_exp")
    n_experiences = num_experiences or len(num_classes_per_exp or ())
    return avalanche_benchmark(
        class_incremental(
            datasets_dict["train"],
            datasets_dict["test"],
            n_experiences,
            fixed_class_order=_avalanche_class_order(
                datasets_dict["train"], True, seed, class_order
            ),
            per_exp_classes=num_classes_per_exp,
            name="class_incremental_benchmark",
        )
    )


def ni_benchmark(
    train_dataset: Any,
    test_dataset: Any,
    n_experiences: int,
    *,
    task_labels: bool = False,
    shuffle: bool = True,
    seed: int | None = None,
    balance_experiences: bool = False,
    min_class_patterns_in_exp: int = 0,
    fixed_exp_assignment: Sequence[Sequence[int]] | None = None,
    train_transform: Any = None,
    eval_transform: Any = None,
    reproducibility_data: Any = None,
) -> AvalancheBenchmark:
    """New instances: the training samples dealt into ``n_experiences`` parts (shuffled
    unless ``shuffle=False``); the test stream is one experience with every test sample."""
    _refuse("ni_benchmark", locals())
    train = _tensor_data(_single(train_dataset, "ni_benchmark"), "ni_benchmark")
    if fixed_exp_assignment is not None:
        parts = [torch.as_tensor(indices, dtype=torch.long) for indices in fixed_exp_assignment]
    else:
        chosen = _random_seed(shuffle, seed)
        order = (
            torch.arange(len(train))
            if chosen is None
            else torch.randperm(len(train), generator=torch.Generator().manual_seed(chosen))
        )
        parts = list(torch.tensor_split(order, n_experiences))
    test = _tensor_data(test_dataset, "ni_benchmark")
    benchmark = domain_incremental(
        [train.subset(indices) for indices in parts],
        [test] * len(parts),
        task_labels=task_labels,
        name="ni_benchmark",
    )
    single_test = dataclasses.replace(
        benchmark, test_stream=Stream("test", [benchmark.test_stream[0]])
    )
    return avalanche_benchmark(single_test)


def dataset_benchmark(
    train_datasets: Sequence[Any],
    test_datasets: Sequence[Any],
    *,
    other_streams_datasets: Mapping[str, Sequence[Any]] | None = None,
    complete_test_set_only: bool = False,
    train_transform: Any = None,
    train_target_transform: Any = None,
    eval_transform: Any = None,
    eval_target_transform: Any = None,
    other_streams_transforms: Any = None,
) -> AvalancheBenchmark:
    """One experience per given dataset (task label 0): ``domain_incremental``."""
    _refuse("dataset_benchmark", locals())
    return avalanche_benchmark(
        domain_incremental(list(train_datasets), list(test_datasets), name="dataset_benchmark")
    )


def tensors_benchmark(
    train_tensors: Sequence[Sequence[Any]],
    test_tensors: Sequence[Sequence[Any]],
    *,
    task_labels: Sequence[int],
    other_streams_tensors: Any = None,
    complete_test_set_only: bool = False,
    train_transform: Any = None,
    train_target_transform: Any = None,
    eval_transform: Any = None,
    eval_target_transform: Any = None,
    other_streams_transforms: Any = None,
) -> AvalancheBenchmark:
    """One experience per ``(x, y)`` pair; ``task_labels`` all 0, or ``0..n-1``."""
    _refuse("tensors_benchmark", locals())
    labels = [int(t) for t in task_labels]
    if labels not in ([0] * len(labels), list(range(len(labels)))):
        raise not_supported(
            f"tensors_benchmark(task_labels={labels})",
            "task labels all 0 or 0..n-1 (one per experience)",
        )
    return avalanche_benchmark(
        domain_incremental(
            [tuple(pair) for pair in train_tensors],
            [tuple(pair) for pair in test_tensors],
            task_labels=any(labels),
            name="tensors_benchmark",
        )
    )


def benchmark_from_datasets(**dataset_streams: Sequence[Any]) -> AvalancheBenchmark:
    """Streams named by keyword (``train=[...]``, ``test=[...]``), one experience per
    dataset; ``train`` and ``test`` are required."""
    if "train" not in dataset_streams or "test" not in dataset_streams:
        raise ValueError("benchmark_from_datasets needs train=[...] and test=[...] streams")
    others = {k: v for k, v in dataset_streams.items() if k not in ("train", "test")}
    if others:
        raise not_supported(
            f"benchmark_from_datasets({', '.join(others)}=...)",
            "add validation with clhost.benchmarks.with_validation_stream",
        )
    train, test = list(dataset_streams["train"]), list(dataset_streams["test"])
    if len(train) != len(test):
        raise not_supported(
            "benchmark_from_datasets with streams of different lengths",
            "give one test dataset per training dataset",
        )
    return avalanche_benchmark(domain_incremental(train, test, name="benchmark_from_datasets"))


def _tensor_data(data: Any, function: str) -> TensorData:
    converted = as_classification_data(data)
    if not isinstance(converted, TensorData):
        raise not_supported(f"{function} on a non-tensor dataset", "use tensors (TensorDataset)")
    return converted


def split_online_stream(
    original_stream: Any,
    experience_size: int,
    shuffle: bool = True,
    drop_last: bool = False,
    experience_split_strategy: Any = None,
    access_task_boundaries: bool = False,
    seed: int | None = None,
) -> Stream:
    """Avalanche's online stream: clhost's ``split_online`` mini-experiences (which always
    know their boundaries, whatever ``access_task_boundaries`` says)."""
    from clhost.benchmarks import split_online

    if experience_split_strategy is not None:
        raise not_supported(
            "split_online_stream(experience_split_strategy=...)",
            "cut the experiences yourself with clhost.data.select",
        )
    if not isinstance(original_stream, Stream):
        raise not_supported(
            "split_online_stream of a list of experiences", "pass the benchmark's stream"
        )
    return split_online(
        original_stream,
        experience_size,
        shuffle=shuffle,
        seed=_random_seed(shuffle, seed),
        drop_last=drop_last,
    )
