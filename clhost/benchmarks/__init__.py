"""Benchmark builders for any dataset, and the embedded Split/Permuted Digits benchmarks."""

from clhost.benchmarks.class_incremental import class_incremental, task_incremental
from clhost.benchmarks.digits import load_digits, permuted_digits, split_digits
from clhost.benchmarks.domain_incremental import domain_incremental, permuted
from clhost.benchmarks.online import split_online
from clhost.benchmarks.validation import with_validation_stream

__all__ = [
    "class_incremental",
    "domain_incremental",
    "load_digits",
    "permuted",
    "permuted_digits",
    "split_digits",
    "split_online",
    "task_incremental",
    "with_validation_stream",
]
