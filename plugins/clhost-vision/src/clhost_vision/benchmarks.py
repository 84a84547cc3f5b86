"""Benchmark factories registered under ``clhost.benchmarks``: one per image data set."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def _split_factory(
    source: ImageSource, name: str, default_experiences: int, doc: str
) -> Callable[..., Benchmark]:
    """The class-incremental benchmark factory of one data set, registered as ``name``."""

    def factory(
        n_experiences: int = default_experiences,
        *,
        root: str,
        seed: int = 0,
        fixed_class_order: Sequence[int] | None = None,
        task_labels: bool = False,
        class_ids_from_zero_in_each_exp: bool = False,
        download: bool = False,
        normalize: bool = True,
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

    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    factory.__doc__ = doc
    return factory


split_mnist = _split_factory(
    MNIST,
    "split-mnist",
    5,
    """Split MNIST: the ten digits in ``n_experiences`` groups (class order shuffled by
    ``seed`` unless fixed), images ``(1, 28, 28)`` read from ``root/MNIST/raw``.""",
)
split_fashion_mnist = _split_factory(
    FASHION_MNIST,
    "split-fashion-mnist",
    5,
    """Split Fashion-MNIST: ten clothing classes in ``n_experiences`` groups, images
    ``(1, 28, 28)`` read from ``root/FashionMNIST/raw``.""",
)
split_cifar10 = _split_factory(
    CIFAR10,
    "split-cifar10",
    5,
    """Split CIFAR-10: ten classes in ``n_experiences`` groups, images ``(3, 32, 32)``
    read from ``root/cifar-10-batches-py``.""",
)
split_cifar100 = _split_factory(
    CIFAR100,
    "split-cifar100",
    10,
    """Split CIFAR-100: the hundred fine classes in ``n_experiences`` groups, images
    ``(3, 32, 32)`` read from ``root/cifar-100-python``.""",
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
