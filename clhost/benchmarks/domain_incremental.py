"""Domain-incremental streams: every experience has all classes, seen through a new domain."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor

from clhost.benchmarks._datasets import input_shape_of, part, prepare, targets_of
from clhost.benchmarks._streams import build_stream
from clhost.data import Benchmark
from clhost.errors import ParameterError


def domain_incremental(
    train_domains: Sequence[Any],
    test_domains: Sequence[Any],
    *,
    task_labels: bool = False,
    name: str = "domain-incremental",
) -> Benchmark:
    """One experience per domain: ``train_domains[i]`` and ``test_domains[i]`` form
    experience ``i``. Task label 0 throughout, or ``i`` with ``task_labels``."""
    if len(train_domains) != len(test_domains) or not train_domains:
        raise ParameterError(
            "train_domains and test_domains must hold one dataset per experience each, "
            f"got {len(train_domains)} and {len(test_domains)}"
        )
    train = [prepare(d, f"train_domains[{i}]") for i, d in enumerate(train_domains)]
    test = [prepare(d, f"test_domains[{i}]") for i, d in enumerate(test_domains)]

    def stream(stream_name: str, domains: list[Any]) -> Any:
        parts = []
        for index, data in enumerate(domains):
            task = index if task_labels else 0
            targets = targets_of(data)
            classes = torch.unique(targets).tolist()
            parts.append((part(data, torch.arange(len(targets)), task), classes, [task]))
        return build_stream(stream_name, parts)

    train_stream = stream("train", train)
    return Benchmark(
        name=name,
        train_stream=train_stream,
        test_stream=stream("test", test),
        n_classes=len(train_stream[-1].classes_seen_so_far),
        input_shape=input_shape_of(train[0]),
    )


def permuted(
    train: Any,
    test: Any,
    n_experiences: int,
    *,
    seed: int,
    name: str = "permuted",
) -> Benchmark:
    """Permuted-MNIST-style stream: experience ``i`` shows every sample with the pixels
    shuffled by its own fixed permutation (the first is the identity), drawn from ``seed``.

    Inputs of shape ``(C, H, W)`` have their ``H*W`` pixel positions permuted (the same way
    in every channel); any other shape has its flattened features permuted.
    """
    if not isinstance(n_experiences, int) or n_experiences < 1:
        raise ParameterError(f"n_experiences must be a positive integer, got {n_experiences!r}")
    train, test = prepare(train, "train"), prepare(test, "test")
    permutations = pixel_permutations(input_shape_of(train), n_experiences, seed)
    transforms = [partial(permute_pixels, permutation=p) for p in permutations]
    return domain_incremental(
        [part(train, torch.arange(len(train)), 0, transform=f) for f in transforms],
        [part(test, torch.arange(len(test)), 0, transform=f) for f in transforms],
        name=name,
    )


def pixel_permutations(shape: tuple[int, ...], n: int, seed: int) -> list[Tensor]:
    """The identity, then ``n - 1`` random permutations of the pixel positions of ``shape``."""
    size = math.prod(shape[1:]) if len(shape) == 3 else math.prod(shape)
    generator = torch.Generator().manual_seed(int(seed))
    return [torch.arange(size)] + [torch.randperm(size, generator=generator) for _ in range(n - 1)]


def permute_pixels(x: Tensor, permutation: Tensor) -> Tensor:
    """Reorder the pixels of a batch ``x`` of shape ``(N, *shape)`` by ``permutation``."""
    if x.dim() == 4:
        return x.flatten(2)[:, :, permutation.to(x.device)].reshape(x.shape)
    return x.flatten(1)[:, permutation.to(x.device)].reshape(x.shape)
