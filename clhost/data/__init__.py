"""The data model: experiences, streams, benchmarks and fast loaders."""

from clhost.data.experience import (
    Benchmark,
    Experience,
    Stream,
    experience_classes,
    experience_data,
)
from clhost.data.loaders import CyclingLoader, ReplayLoader, TensorBatchLoader, make_loader
from clhost.data.tensors import TaskLabelled, TensorData, as_classification_data

__all__ = [
    "Benchmark",
    "CyclingLoader",
    "Experience",
    "ReplayLoader",
    "Stream",
    "TaskLabelled",
    "TensorBatchLoader",
    "TensorData",
    "as_classification_data",
    "experience_classes",
    "experience_data",
    "make_loader",
]
