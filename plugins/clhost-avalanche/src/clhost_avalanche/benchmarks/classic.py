"""Avalanche's classic image benchmarks read through clhost-vision from ``dataset_root``
(default ``~/.avalanche/data/<name>``, as Avalanche); nothing is downloaded, and missing
files fail with clhost-vision's one-line error naming what to put where."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import clhost_vision  # type: ignore[import-untyped]
from clhost.data import Benchmark
from clhost_avalanche._exports import not_supported

DEFAULT_TRANSFORMS = object()
"""Avalanche's own normalisation (clhost-vision normalises the same way)."""


def _root(dataset_root: Any, name: str) -> str:
    default = os.path.join(os.path.expanduser("~"), ".avalanche", "data", name)
    return str(dataset_root) if dataset_root is not None else default


def _split(
    factory: Callable[..., Benchmark], folder: str, avalanche_name: str
) -> Callable[..., Benchmark]:
    def split(
        n_experiences: int,
        *,
        return_task_id: bool = False,
        seed: int | None = None,
        fixed_class_order: Sequence[int] | None = None,
        shuffle: bool = True,
        class_ids_from_zero_in_each_exp: bool = False,
        class_ids_from_zero_from_first_exp: bool = False,
        train_transform: Any = DEFAULT_TRANSFORMS,
        eval_transform: Any = DEFAULT_TRANSFORMS,
        dataset_root: Any = None,
        **first_half: bool,
    ) -> Benchmark:
        if any(first_half.values()) or class_ids_from_zero_from_first_exp:
            raise not_supported(
                f"{avalanche_name}(first_exp_with_half_classes/class_ids_from_zero_from_first_exp)",
                "use clhost.benchmarks.class_incremental(per_exp_classes=...)",
            )
        if train_transform is not DEFAULT_TRANSFORMS or eval_transform is not DEFAULT_TRANSFORMS:
            raise not_supported(
                f"{avalanche_name}(train_transform/eval_transform)",
                "clhost-vision applies the standard normalisation; augment in a plugin",
            )
        from clhost_avalanche.benchmarks.generators import _random_seed

        return factory(
            n_experiences,
            root=_root(dataset_root, folder),
            seed=_random_seed(shuffle, seed),
            fixed_class_order=fixed_class_order,
            task_labels=return_task_id,
            class_ids_from_zero_in_each_exp=class_ids_from_zero_in_each_exp,
        )

    split.__name__ = split.__qualname__ = avalanche_name
    split.__doc__ = f"Avalanche's {avalanche_name}: clhost_vision.{factory.__name__}."
    return split


SplitMNIST = _split(clhost_vision.split_mnist, "mnist", "SplitMNIST")
SplitFMNIST = _split(clhost_vision.split_fashion_mnist, "fashionmnist", "SplitFMNIST")
SplitCIFAR10 = _split(clhost_vision.split_cifar10, "cifar10", "SplitCIFAR10")
SplitCIFAR100 = _split(clhost_vision.split_cifar100, "cifar100", "SplitCIFAR100")


def PermutedMNIST(  # noqa: N802 (Avalanche's name)
    n_experiences: int,
    *,
    return_task_id: bool = False,
    seed: int | None = None,
    train_transform: Any = DEFAULT_TRANSFORMS,
    eval_transform: Any = DEFAULT_TRANSFORMS,
    dataset_root: Any = None,
) -> Benchmark:
    """Avalanche's PermutedMNIST: clhost_vision.permuted_mnist (its first experience
    keeps the original pixel order, Avalanche's permutes every experience)."""
    if (
        return_task_id
        or train_transform is not DEFAULT_TRANSFORMS
        or eval_transform is not DEFAULT_TRANSFORMS
    ):
        raise not_supported(
            "PermutedMNIST(return_task_id/transforms)", "use clhost_vision.permuted_mnist"
        )
    return clhost_vision.permuted_mnist(
        n_experiences, root=_root(dataset_root, "mnist"), seed=0 if seed is None else seed
    )
