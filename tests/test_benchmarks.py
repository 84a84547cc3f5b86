"""The benchmark builders and the embedded Split/Permuted Digits benchmarks."""

from __future__ import annotations

import torch

from clhost.benchmarks import load_digits, permuted_digits, split_digits
from clhost.data import TensorData


def test_digits_load_from_the_package_without_download():
    train, test = load_digits()
    assert (len(train), len(test)) == (1438, 359)
    assert train.x.dtype == torch.float32 and train.x.shape[1:] == (64,)
    assert 0.0 <= float(train.x.min()) and float(train.x.max()) == 1.0
    assert train.classes == test.classes == list(range(10))
    # the stored split is stratified: every class holds about 20% of its samples in test
    for label in range(10):
        n_train, n_test = int((train.y == label).sum()), int((test.y == label).sum())
        assert abs(n_test / (n_train + n_test) - 0.2) < 0.01


def test_split_digits_sizes_and_classes():
    benchmark = split_digits()
    assert benchmark.name == "split-digits"
    assert (benchmark.n_classes, benchmark.input_shape, benchmark.n_experiences) == (10, (64,), 5)
    assert sum(len(e) for e in benchmark.train_stream) == 1438
    assert sum(len(e) for e in benchmark.test_stream) == 359
    for train_exp, test_exp in zip(benchmark.train_stream, benchmark.test_stream, strict=True):
        assert isinstance(train_exp.dataset, TensorData)
        assert len(train_exp.classes_in_this_experience) == 2
        assert train_exp.dataset.classes == list(train_exp.classes_in_this_experience)
        assert test_exp.dataset.classes == list(train_exp.classes_in_this_experience)
        assert (train_exp.origin_stream, test_exp.origin_stream) == ("train", "test")


def test_permuted_digits_keeps_all_classes_and_task_zero():
    benchmark = permuted_digits(3, seed=1)
    train, _ = load_digits()
    first, second = benchmark.train_stream[0].dataset, benchmark.train_stream[1].dataset
    assert torch.equal(first.x, train.x)
    assert not torch.equal(second.x, train.x)
    assert torch.equal(second.x.sort(dim=1).values, train.x.sort(dim=1).values)
    for exp in benchmark.train_stream:
        assert exp.classes_in_this_experience == tuple(range(10))
        assert exp.task_labels == (0,) and len(exp) == len(train)
