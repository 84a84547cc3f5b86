"""``avalanche.benchmarks.utils``: tensor datasets as clhost's ``TensorData`` (the fast path)."""

from __future__ import annotations

from typing import Any

import torch

from clhost.data import TensorData, as_classification_data
from clhost_avalanche._exports import lazy_module


def make_tensor_classification_dataset(
    *dataset_tensors: torch.Tensor,
    targets: torch.Tensor | None = None,
    task_labels: int | torch.Tensor | None = None,
    transform: Any = None,
    target_transform: Any = None,
) -> TensorData:
    """Inputs (first tensor), targets (the second, unless ``targets`` is given) and task
    labels (an int or one per sample; 0 by default) as ``TensorData``."""
    if transform is not None or target_transform is not None:
        from clhost_avalanche._exports import not_supported
        from clhost_avalanche.benchmarks.generators import NO_TRANSFORMS

        raise not_supported("make_tensor_classification_dataset(transform=...)", NO_TRANSFORMS)
    x = dataset_tensors[0]
    y = targets if targets is not None else dataset_tensors[1]
    return TensorData(x, torch.as_tensor(y), 0 if task_labels is None else task_labels)


def as_classification_dataset(dataset: Any, transform_groups: Any = None) -> Any:
    """``dataset`` as clhost reads it: tensors become ``TensorData``, others keep their
    ``targets``."""
    return as_classification_data(dataset)


UNSUPPORTED = (
    {
        name: "clhost reads tensors (TensorData) and torch datasets with .targets directly; "
        "transforms go into the dataset or a plugin"
        for name in (
            "AvalancheDataset",
            "make_avalanche_dataset",
            "TaskAwareClassificationDataset",
            "TaskAwareSupervisedClassificationDataset",
            "as_taskaware_classification_dataset",
            "as_avalanche_dataset",
            "DataAttribute",
            "TensorDataAttribute",
            "concat_datasets",
            "ConstantSequence",
            "FlatData",
            "TaskLabels",
            "TaskSet",
            "ComposeMaxParamsWarning",
            "DefaultTransformGroups",
            "EmptyTransformGroups",
            "MultiParamCompose",
            "MultiParamTransform",
            "MultiParamTransformCallable",
            "TransformGroups",
            "TupleTransform",
            "XComposedTransformDef",
            "XTransformDef",
            "YTransformDef",
            "find_common_transforms_group",
            "flat_transforms_recursive",
            "classification_collate_mbatches_fn",
            "classification_single_values_collate_mbatches_fn",
            "grouped_and_ordered_indexes",
            "tensor_as_list",
        )
    }
    | {
        name: "read the files into tensors (or a torchvision dataset), then tensors_benchmark"
        for name in (
            "DatasetFolder",
            "FilelistDataset",
            "ImageFolder",
            "PathsDataset",
            "common_paths_root",
            "datasets_from_filelists",
            "datasets_from_paths",
            "default_flist_reader",
            "default_image_loader",
        )
    }
    | {
        name: "detection is not in clhost"
        for name in (
            "DetectionDataset",
            "concat_detection_datasets",
            "detection_collate_fn",
            "detection_collate_mbatches_fn",
            "detection_subset",
            "make_detection_dataset",
        )
    }
)
__getattr__, __dir__ = lazy_module(globals(), {}, UNSUPPORTED)
__all__ = ["as_classification_dataset", "make_tensor_classification_dataset"]
