"""Split Digits and Permuted Digits: benchmarks shipped inside clhost, so runs need no download.

The data is the UCI optical recognition of handwritten digits set (8x8 images, grey levels
0..16, 10 classes; CC BY 4.0) with a fixed stratified 80/20 split: 1438 train and 359 test
samples. ``data/make_digits.py`` documents and regenerates ``data/digits.npz``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import torch

from clhost.benchmarks.class_incremental import class_incremental
from clhost.benchmarks.domain_incremental import permuted
from clhost.data import Benchmark, TensorData

DIGITS_FILE = Path(__file__).with_name("data") / "digits.npz"
MAX_GREY_LEVEL = 16


@cache
def _arrays() -> dict[str, np.ndarray]:
    with np.load(DIGITS_FILE, allow_pickle=False) as archive:
        return {key: archive[key] for key in ("train_x", "train_y", "test_x", "test_y")}


def load_digits() -> tuple[TensorData, TensorData]:
    """The train and test parts: float32 inputs of shape (64,) in [0, 1], task label 0."""
    arrays = _arrays()

    def data(split: str) -> TensorData:
        x = torch.from_numpy(arrays[f"{split}_x"].astype(np.float32) / MAX_GREY_LEVEL)
        return TensorData(x, torch.from_numpy(arrays[f"{split}_y"]).long())

    return data("train"), data("test")


def split_digits(
    n_experiences: int = 5,
    *,
    seed: int = 0,
    fixed_class_order: Sequence[int] | None = None,
    task_labels: bool = False,
    class_ids_from_zero_in_each_exp: bool = False,
) -> Benchmark:
    """The ten digit classes split into ``n_experiences`` groups, in an order shuffled by
    ``seed`` unless ``fixed_class_order`` is given (see ``class_incremental``)."""
    train, test = load_digits()
    return class_incremental(
        train,
        test,
        n_experiences,
        seed=seed,
        fixed_class_order=fixed_class_order,
        task_labels=task_labels,
        class_ids_from_zero_in_each_exp=class_ids_from_zero_in_each_exp,
        name="split-digits",
    )


def permuted_digits(n_experiences: int = 5, *, seed: int = 0) -> Benchmark:
    """All ten digits in every experience, each with its own pixel permutation (the first
    experience sees the original images)."""
    train, test = load_digits()
    return permuted(train, test, n_experiences, seed=seed, name="permuted-digits")
