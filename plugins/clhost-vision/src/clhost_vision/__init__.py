"""Image benchmarks for clhost, read from torchvision's files under a root you give."""

from clhost_vision.benchmarks import (
    permuted_mnist,
    split_cifar10,
    split_cifar100,
    split_fashion_mnist,
    split_mnist,
)
from clhost_vision.sources import DatasetNotFoundError

__all__ = [
    "DatasetNotFoundError",
    "permuted_mnist",
    "split_cifar10",
    "split_cifar100",
    "split_fashion_mnist",
    "split_mnist",
]
