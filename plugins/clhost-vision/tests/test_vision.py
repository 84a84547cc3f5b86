"""The image benchmarks, loaded from tiny files written in the real on-disk formats."""

from __future__ import annotations

import pickle
import struct
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar

import clhost_vision
from clhost.data import TensorData
from clhost_vision import (
    DatasetNotFoundError,
    permuted_mnist,
    split_cifar10,
    split_cifar100,
    split_fashion_mnist,
    split_mnist,
)

PER_CLASS = {"train": 3, "test": 2}


def labels(n_classes: int, split: str) -> np.ndarray:
    return np.tile(np.arange(n_classes), PER_CLASS[split]).astype(np.uint8)


PATTERN = np.arange(28 * 28) % 256  # varies over the image, so permutations show


def grey_value(y: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The pixel values (0..255) of the images of labels ``y``, flattened."""
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    return (20 * y[:, None] + torch.as_tensor(PATTERN)[None, :]) % 256


def grey_images(y: np.ndarray) -> np.ndarray:
    return grey_value(y).numpy().astype(np.uint8).reshape(len(y), 28, 28)


def colour_images(y: np.ndarray) -> np.ndarray:
    """CIFAR rows (3072 bytes, channel-major) where channel ``c`` holds ``2 * label + c``."""
    planes = (2 * y.astype(np.int64))[:, None] + np.arange(3)[None, :]
    return np.repeat(planes, 32 * 32, axis=1).astype(np.uint8)


def write_idx(path: Path, array: np.ndarray) -> None:
    """The idx-ubyte format of LeCun's MNIST files: magic, big-endian sizes, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str) -> None:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        y = labels(10, split)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", grey_images(y))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)


def write_pickle(path: Path, content: dict) -> None:
    path.write_bytes(pickle.dumps(content, protocol=2))


def write_cifar10(root: Path) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    y = labels(10, "train")
    chunks = np.array_split(np.arange(len(y)), 5)
    for number, rows in enumerate(chunks, start=1):
        write_pickle(
            folder / f"data_batch_{number}",
            {
                "batch_label": f"training batch {number} of 5",
                "labels": y[rows].tolist(),
                "data": colour_images(y[rows]),
                "filenames": [f"img_{i}.png" for i in rows],
            },
        )
    y = labels(10, "test")
    write_pickle(
        folder / "test_batch",
        {"batch_label": "testing batch 1 of 1", "labels": y.tolist(), "data": colour_images(y)},
    )
    write_pickle(
        folder / "batches.meta",
        {
            "label_names": [f"class{i}" for i in range(10)],
            "num_cases_per_batch": 6,
            "num_vis": 3072,
        },
    )


def write_cifar100(root: Path) -> None:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        y = labels(100, split)
        write_pickle(
            folder / split,
            {
                "batch_label": f"{split}ing batch 1 of 1",
                "fine_labels": y.tolist(),
                "coarse_labels": (y // 5).tolist(),
                "data": colour_images(y),
                "filenames": [f"img_{i}.png" for i in range(len(y))],
            },
        )
    write_pickle(
        folder / "meta",
        {
            "fine_label_names": [f"fine{i}" for i in range(100)],
            "coarse_label_names": [f"coarse{i}" for i in range(20)],
        },
    )


@pytest.fixture
def tiny_cifar_accepted(monkeypatch):
    """Tiny files cannot match the md5 of the real CIFAR archives; keep only the check
    that each file exists (the rest of torchvision's loading runs as is)."""
    monkeypatch.setattr(
        torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: Path(path).is_file()
    )


def test_split_mnist_reads_idx_files_into_normalized_tensors(tmp_path):
    write_mnist(tmp_path, "MNIST")
    benchmark = split_mnist(5, root=str(tmp_path), seed=1)
    assert benchmark.name == "split-mnist"
    assert (benchmark.n_classes, benchmark.input_shape) == (10, (1, 28, 28))
    assert sum(len(e) for e in benchmark.train_stream) == 30
    assert sum(len(e) for e in benchmark.test_stream) == 20
    for exp in benchmark.train_stream:
        data = exp.dataset
        assert isinstance(data, TensorData) and data.x.dtype == torch.float32
        assert len(exp.classes_in_this_experience) == 2
        expected = (grey_value(data.y).float() / 255 - 0.1307) / 0.3081
        assert torch.allclose(data.x.flatten(1), expected, atol=1e-5)
    raw = split_mnist(5, root=tmp_path, seed=1, normalize=False).train_stream[0].dataset
    assert torch.allclose(raw.x.flatten(1), grey_value(raw.y).float() / 255)


def test_split_mnist_class_order_options(tmp_path):
    write_mnist(tmp_path, "MNIST")
    orders = [
        [
            c
            for e in split_mnist(5, root=tmp_path, seed=s).train_stream
            for c in e.classes_in_this_experience
        ]
        for s in (0, 0, 1)
    ]
    assert orders[0] == orders[1] != orders[2]
    fixed = split_mnist(
        2,
        root=tmp_path,
        fixed_class_order=list(range(10)),
        task_labels=True,
        class_ids_from_zero_in_each_exp=True,
    )
    assert [e.task_labels for e in fixed.train_stream] == [(0,), (1,)]
    assert [e.classes_in_this_experience for e in fixed.train_stream] == [tuple(range(5))] * 2


def test_split_fashion_mnist_reads_its_own_folder(tmp_path, monkeypatch):
    write_mnist(tmp_path, "FashionMNIST")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert split_fashion_mnist(root="~").n_classes == 10  # a user's ~ is expanded
    benchmark = split_fashion_mnist(root=tmp_path, normalize=False)
    assert benchmark.name == "split-fashion-mnist" and benchmark.n_experiences == 5
    assert benchmark.input_shape == (1, 28, 28)
    with pytest.raises(DatasetNotFoundError, match="MNIST"):
        split_mnist(root=tmp_path)  # the MNIST folder itself is absent


def test_permuted_mnist_permutes_pixels_per_experience(tmp_path):
    write_mnist(tmp_path, "MNIST")
    benchmark = permuted_mnist(3, root=tmp_path, seed=0, normalize=False)
    assert benchmark.name == "permuted-mnist"
    assert [e.classes_in_this_experience for e in benchmark.train_stream] == [tuple(range(10))] * 3
    original = grey_value(benchmark.train_stream[0].dataset.y).float() / 255
    images = [e.dataset.x.flatten(1) for e in benchmark.train_stream]
    assert images[0].shape == (30, 28 * 28)
    assert torch.allclose(images[0], original)  # the first experience is not permuted
    for permuted_images in images[1:]:
        assert not torch.allclose(permuted_images, original)
        assert torch.allclose(permuted_images.sort(1).values, original.sort(1).values)
    assert not torch.allclose(images[1], images[2])
    normalized = permuted_mnist(3, root=tmp_path, seed=0).train_stream[1].dataset.x
    assert torch.allclose(normalized, (benchmark.train_stream[1].dataset.x - 0.1307) / 0.3081)


def test_split_cifar10_reads_pickled_batches(tmp_path, tiny_cifar_accepted):
    write_cifar10(tmp_path)
    benchmark = split_cifar10(root=tmp_path, seed=0)
    assert benchmark.name == "split-cifar10"
    assert (benchmark.n_classes, benchmark.input_shape) == (10, (3, 32, 32))
    assert [len(e) for e in benchmark.train_stream] == [6] * 5
    assert [len(e) for e in benchmark.test_stream] == [4] * 5
    data = benchmark.train_stream[0].dataset
    mean = torch.tensor((0.4914, 0.4822, 0.4465))
    std = torch.tensor((0.2470, 0.2435, 0.2616))
    for channel in range(3):
        pixel = (2 * data.y.float() + channel) / 255
        expected = (pixel - mean[channel]) / std[channel]
        assert torch.allclose(data.x[:, channel, 5, 7], expected, atol=1e-6)


def test_split_cifar100_reads_fine_labels(tmp_path, tiny_cifar_accepted):
    write_cifar100(tmp_path)
    benchmark = split_cifar100(root=tmp_path, seed=0, normalize=False)
    assert benchmark.name == "split-cifar100"
    assert (benchmark.n_classes, benchmark.n_experiences) == (100, 10)
    assert [len(e.classes_in_this_experience) for e in benchmark.train_stream] == [10] * 10
    classes = sorted(c for e in benchmark.train_stream for c in e.classes_in_this_experience)
    assert classes == list(range(100))
    data = benchmark.test_stream[3].dataset
    assert torch.allclose(data.x[:, 1, 0, 0], (2 * data.y.float() + 1) / 255)


@pytest.mark.parametrize(
    "factory", [split_mnist, permuted_mnist, split_fashion_mnist, split_cifar10, split_cifar100]
)
def test_missing_files_are_a_clear_error_and_nothing_is_downloaded(tmp_path, factory):
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        factory(root=tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError, match="root"):
        factory()


def test_corrupt_files_are_reported_with_their_folder(tmp_path):
    write_cifar10(tmp_path)  # without the md5 bypass: tiny files are not the real archive
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        split_cifar10(root=tmp_path)


def test_download_is_asked_of_torchvision_only_when_requested(tmp_path, monkeypatch):
    calls = []

    def fake_download(dataset):
        calls.append(dataset.train)
        if not (tmp_path / "MNIST").exists():
            write_mnist(tmp_path, "MNIST")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fake_download)
    with pytest.raises(DatasetNotFoundError):
        split_mnist(root=tmp_path)
    assert calls == []
    benchmark = split_mnist(root=tmp_path, download=True)
    assert calls == [True, False] and benchmark.n_experiences == 5


def test_factories_are_registered_benchmarks():
    found = {ep.name: ep.load() for ep in entry_points(group="clhost.benchmarks")}
    for name in ("split-mnist", "permuted-mnist", "split-fashion-mnist"):
        assert found[name] is getattr(clhost_vision, name.replace("-", "_"))
    assert found["split-cifar10"] is split_cifar10
    assert found["split-cifar100"] is split_cifar100
