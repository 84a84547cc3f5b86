"""Benchmark factories registered under ``clhost.benchmarks``: one per image data set."""

from __future__ import annotations

from collections.abc import Sequence

from clhost.benchmarks import class_incremental, permuted
from clhost.data import Benchmark
from clhost_vision.sources import (
    CIFAR10,
    CIFAR100,
    FASHION_MNIST,
    MNIST,
    ImageSource,
    load_train_test,
)


def _split(
    source: ImageSource,
    name: str,
    n_experiences: int,
    root: str,
    seed: int,
    fixed_class_order: Sequence[int] | None,
    task_labels: bool,
    class_ids_from_zero_in_each_exp: bool,
    download: bool,
    normalize: bool,
) -> Benchmark:
    train, test = load_train_test(source, root, download=download, normalize=normalize)
    return class_incremental(
        train,
        test,
        n_experiences,
        seed=seed,
        fixed_class_order=fixed_class_order,
        task_labels=task_labels,
        class_ids_from_zero_in_each_exp=class_ids_from_zero_in_each_exp,
        name=name,
    )


def split_mnist(
    n_experiences: int = 5,
    *,
    root: str,
    seed: int = 0,
    fixed_class_order: Sequence[int] | None = None,
    task_labels: bool = False,
    class_ids_from_zero_in_each_exp: bool = False,
    download: bool = False,
    normalize: bool = True,
) -> Benchmark:
    """Split MNIST: the ten digits in ``n_experiences`` groups (class order shuffled by
    ``seed`` unless fixed), images ``(1, 28, 28)`` read from ``root/MNIST/raw``."""
    return _split(
        MNIST,
        "split-mnist",
        n_experiences,
        root,
        seed,
        fixed_class_order,
        task_labels,
        class_ids_from_zero_in_each_exp,
        download,
        normalize,
    )


def split_fashion_mnist(
    n_experiences: int = 5,
    *,
    root: str,
    seed: int = 0,
    fixed_class_order: Sequence[int] | None = None,
    task_labels: bool = False,
    class_ids_from_zero_in_each_exp: bool = False,
    download: bool = False,
    normalize: bool = True,
) -> Benchmark:
    """Split Fashion-MNIST: ten clothing classes in ``n_experiences`` groups, images
    ``(1, 28, 28)`` read from ``root/FashionMNIST/raw``."""
    return _split(
        FASHION_MNIST,
        "split-fashion-mnist",
        n_experiences,
        root,
        seed,
        fixed_class_order,
        task_labels,
        class_ids_from_zero_in_each_exp,
        download,
        normalize,
    )


def split_cifar10(
    n_experiences: int = 5,
    *,
    root: str,
    seed: int = 0,
    fixed_class_order: Sequence[int] | None = None,
    task_labels: bool = False,
    class_ids_from_zero_in_each_exp: bool = False,
    download: bool = False,
    normalize: bool = True,
) -> Benchmark:
    """Split CIFAR-10: ten classes in ``n_experiences`` groups, images ``(3, 32, 32)``
    read from ``root/cifar-10-batches-py``."""
    return _split(
        CIFAR10,
        "split-cifar10",
        n_experiences,
        root,
        seed,
        fixed_class_order,
        task_labels,
        class_ids_from_zero_in_each_exp,
        download,
        normalize,
    )


def split_cifar100(
    n_experiences: int = 10,
    *,
    root: str,
    seed: int = 0,
    fixed_class_order: Sequence[int] | None = None,
    task_labels: bool = False,
    class_ids_from_zero_in_each_exp: bool = False,
    download: bool = False,
    normalize: bool = True,
) -> Benchmark:
    """Split CIFAR-100: the hundred fine classes in ``n_experiences`` groups, images
    ``(3, 32, 32)`` read from ``root/cifar-100-python``."""
    return _split(
        CIFAR100,
        "split-cifar100",
        n_experiences,
        root,
        seed,
        fixed_class_order,
        task_labels,
        class_ids_from_zero_in_each_exp,
        download,
        normalize,
    )


def permuted_mnist(
    n_experiences: int = 10,
    *,
    root: str,
    seed: int = 0,
    download: bool = False,
    normalize: bool = True,
) -> Benchmark:
    """Permuted MNIST: all ten digits in every experience, each experience with its own
    fixed pixel permutation (the first keeps the original images)."""
    train, test = load_train_test(MNIST, root, download=download, normalize=normalize)
    return permuted(train, test, n_experiences, seed=seed, name="permuted-mnist")
