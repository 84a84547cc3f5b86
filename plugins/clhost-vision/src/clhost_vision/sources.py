"""Image data sets read from torchvision's on-disk layout into normalized ``TensorData``.

Nothing is downloaded unless asked: missing files are one clear error naming the folder
and the files expected there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision import datasets  # type: ignore[import-untyped]

from clhost.data import TensorData
from clhost.errors import ClhostError, ParameterError


class DatasetNotFoundError(ClhostError, FileNotFoundError):
    """The files of a data set are not under the given root (or cannot be read)."""


@dataclass(frozen=True)
class ImageSource:
    """Where torchvision keeps a data set under ``root`` and how to normalize it."""

    name: str
    dataset: type
    folder: str
    files: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]


_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")

# Per-channel statistics of each training set, the values the literature normalizes with.
MNIST = ImageSource("MNIST", datasets.MNIST, "MNIST/raw", _MNIST_FILES, (0.1307,), (0.3081,))
FASHION_MNIST = ImageSource(
    "Fashion-MNIST",
    datasets.FashionMNIST,
    "FashionMNIST/raw",
    _MNIST_FILES,
    (0.2860,),
    (0.3530,),
)
CIFAR10 = ImageSource(
    "CIFAR-10",
    datasets.CIFAR10,
    "cifar-10-batches-py",
    _CIFAR10_FILES,
    (0.4914, 0.4822, 0.4465),
    (0.2470, 0.2435, 0.2616),
)
CIFAR100 = ImageSource(
    "CIFAR-100",
    datasets.CIFAR100,
    "cifar-100-python",
    ("train", "test", "meta"),
    (0.5071, 0.4865, 0.4409),
    (0.2673, 0.2564, 0.2762),
)


def load_train_test(
    source: ImageSource, root: str | os.PathLike, *, download: bool, normalize: bool
) -> tuple[TensorData, TensorData]:
    """The train and test sets of ``source`` as float images ``(N, C, H, W)``: in [0, 1],
    or standardized with the source's channel statistics when ``normalize``."""
    if not root:
        raise ParameterError(f"root must name the folder holding {source.name}, got {root!r}")
    root = Path(root).expanduser()
    folder = root / source.folder
    missing = [name for name in source.files if not (folder / name).is_file()]
    if missing and not download:
        raise DatasetNotFoundError(
            f"{source.name} not found: {folder} lacks {', '.join(missing)}; "
            "put the files there or pass download=True to download them"
        )
    return tuple(  # type: ignore[return-value]
        _load(source, root, train, download, normalize) for train in (True, False)
    )


def _load(
    source: ImageSource, root: Path, train: bool, download: bool, normalize: bool
) -> TensorData:
    try:
        dataset = source.dataset(root, train=train, download=download)
    except (RuntimeError, OSError, ValueError, TypeError) as error:
        raise DatasetNotFoundError(
            f"cannot read {source.name} from {root / source.folder}: {error}"
        ) from error
    images = torch.as_tensor(dataset.data)
    if images.dim() == 3:  # MNIST-like (N, H, W)
        images = images.unsqueeze(1)
    else:  # CIFAR (N, H, W, C)
        images = images.permute(0, 3, 1, 2)
    x = images.float().div_(255)
    if normalize:
        mean = torch.tensor(source.mean).view(1, -1, 1, 1)
        std = torch.tensor(source.std).view(1, -1, 1, 1)
        x = x.sub_(mean).div_(std)
    return TensorData(x.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.long))
