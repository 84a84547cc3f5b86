"""Generators build the streams Avalanche builds; image benchmarks read local files only."""

from __future__ import annotations

import pytest
import torch

from clhost.data import TensorData
from clhost_avalanche._exports import NotSupported
from clhost_avalanche.benchmarks import SplitMNIST, nc_benchmark, ni_benchmark
from clhost_avalanche.benchmarks.utils import make_tensor_classification_dataset
from clhost_vision import DatasetNotFoundError


def test_generators_build_avalanches_streams(run_script, reference):
    assert run_script("generators").json("STREAMS") == reference["streams"]


def test_make_tensor_classification_dataset_is_tensor_data():
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    data = make_tensor_classification_dataset(x, y, task_labels=2)
    assert isinstance(data, TensorData) and data.t.tolist() == [2] * 6
    assert torch.equal(make_tensor_classification_dataset(x, targets=y).y, y)


def test_ni_benchmark_deals_training_samples_and_keeps_one_test_experience():
    x, y = torch.randn(30, 3), torch.arange(3).repeat(10)
    bench = ni_benchmark((x, y), (x, y), 3, seed=1)
    assert [len(e.dataset) for e in bench.train_stream] == [10, 10, 10]
    assert len(bench.test_stream) == 1 and len(bench.test_stream[0].dataset) == 30


def test_split_mnist_reads_dataset_root_and_never_downloads(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        SplitMNIST(5, dataset_root=tmp_path)
    assert str(tmp_path) in str(error.value) and "\n" not in str(error.value)


def test_unmirrored_generator_options_fail_with_one_line():
    x, y = torch.randn(8, 3), torch.arange(4).repeat(2)
    with pytest.raises(NotSupported, match="train_transform"):
        nc_benchmark((x, y), (x, y), 2, task_labels=False, train_transform=lambda v: v)


def test_a_seed_gives_avalanches_class_order_and_global_random_state():
    x, y = torch.randn(12, 3), torch.arange(6).repeat(2)
    bench = nc_benchmark((x, y), (x, y), 3, task_labels=False, seed=3)
    after = torch.rand(1)
    torch.manual_seed(3)  # Avalanche: manual_seed(seed), then randperm of the ascending classes
    expected = torch.randperm(6).tolist()
    assert [sorted(e.classes_in_this_experience) for e in bench.train_stream] == [
        sorted(expected[i : i + 2]) for i in (0, 2, 4)
    ]
    assert torch.equal(after, torch.rand(1))


def test_without_shuffle_the_classes_ascend():
    x, y = torch.randn(12, 3), torch.tensor([5, 4, 3, 2, 1, 0] * 2)
    bench = nc_benchmark((x, y), (x, y), 2, task_labels=False, shuffle=False)
    assert [sorted(e.classes_in_this_experience) for e in bench.train_stream] == [
        [0, 1, 2],
        [3, 4, 5],
    ]
