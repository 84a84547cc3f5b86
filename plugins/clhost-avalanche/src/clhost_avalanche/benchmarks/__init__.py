"""``avalanche.benchmarks``: the generators, classic benchmarks and dataset helpers."""

from __future__ import annotations

from clhost_avalanche._exports import lazy_module
from clhost_avalanche.benchmarks.generators import (
    benchmark_from_datasets,
    class_incremental_benchmark,
    dataset_benchmark,
    nc_benchmark,
    ni_benchmark,
    tensors_benchmark,
)

EXPORTS = {
    name: f"clhost_avalanche.benchmarks.classic:{name}"
    for name in ("SplitMNIST", "SplitFMNIST", "SplitCIFAR10", "SplitCIFAR100", "PermutedMNIST")
}
EXPORTS["benchmark_with_validation_stream"] = "clhost.benchmarks:with_validation_stream"
UNSUPPORTED = {
    "SplitTinyImageNet": "not in clhost-vision yet",
    "CORe50": "not in clhost-vision yet",
    "SplitOmniglot": "not in clhost-vision yet",
    "RotatedMNIST": "use clhost.benchmarks.domain_incremental with rotated tensors",
    "task_incremental_benchmark": "use nc_benchmark(task_labels=True)",
    "data_incremental_benchmark": "use clhost.benchmarks.split_online",
    "split_online_stream": "use clhost.benchmarks.split_online",
    "filelist_benchmark": "read the files into tensors, then tensors_benchmark",
    "paths_benchmark": "read the files into tensors, then tensors_benchmark",
}
__getattr__, __dir__ = lazy_module(globals(), EXPORTS, UNSUPPORTED)
__all__ = [
    "benchmark_from_datasets",
    "class_incremental_benchmark",
    "dataset_benchmark",
    "nc_benchmark",
    "ni_benchmark",
    "tensors_benchmark",
    *EXPORTS,
]
