"""``avalanche.benchmarks``: the generators, classic benchmarks and dataset helpers."""

from __future__ import annotations

from clhost_avalanche._exports import lazy_module
from clhost_avalanche.benchmarks.generators import (
    benchmark_from_datasets,
    class_incremental_benchmark,
    dataset_benchmark,
    nc_benchmark,
    ni_benchmark,
    split_online_stream,
    tensors_benchmark,
)

EXPORTS = {
    name: f"clhost_avalanche.benchmarks.classic:{name}"
    for name in ("SplitMNIST", "SplitFMNIST", "SplitCIFAR10", "SplitCIFAR100", "PermutedMNIST")
}
EXPORTS["benchmark_with_validation_stream"] = (
    "clhost_avalanche.benchmarks.scenario:benchmark_with_validation_stream"
)
UNSUPPORTED = {
    "SplitTinyImageNet": "not in clhost-vision yet",
    "CORe50": "not in clhost-vision yet",
    "SplitOmniglot": "not in clhost-vision yet",
    "RotatedMNIST": "use clhost.benchmarks.domain_incremental with rotated tensors",
    "task_incremental_benchmark": "use nc_benchmark(task_labels=True)",
    "data_incremental_benchmark": "use clhost.benchmarks.split_online",
    "filelist_benchmark": "read the files into tensors, then tensors_benchmark",
    "paths_benchmark": "read the files into tensors, then tensors_benchmark",
    "new_instances_benchmark": "use ni_benchmark",
    **{
        name: "not in clhost-vision"
        for name in (
            "CLEAR",
            "CLEARMetric",
            "CLStream51",
            "EndlessCLSim",
            "ExMLCIFAR10",
            "ExMLCoRE50",
            "ExMLMNIST",
            "OpenLORIS",
            "SplitCIFAR110",
            "SplitCUB200",
            "SplitImageNet",
            "SplitInaturalist",
            "check_experts_accuracy",
        )
    },
    **{
        name: "clhost's streams are clhost.data.Stream of clhost.data.Experience, in a "
        "clhost.data.Benchmark; build them with clhost.benchmarks"
        for name in (
            "AvalancheDataset",
            "CLExperience",
            "CLScenario",
            "CLStream",
            "ClassesTimelineCLScenario",
            "ClassificationExperience",
            "ClassificationScenario",
            "ClassificationStream",
            "ConstantSequence",
            "DatasetExperience",
            "DatasetScenario",
            "EagerCLStream",
            "ExModelCLScenario",
            "ExModelExperience",
            "ExperienceAttribute",
            "ExperienceMode",
            "FactoryBasedStream",
            "FixedSizeExperienceSplitter",
            "GenericCLScenario",
            "GenericClassificationExperience",
            "MaskedAttributeError",
            "NCExperience",
            "NCScenario",
            "NCStream",
            "NIExperience",
            "NIScenario",
            "NIStream",
            "OnlineCLExperience",
            "OnlineCLScenario",
            "SequenceCLStream",
            "StreamDef",
            "StreamUserDef",
            "TaskAware",
            "TaskLabels",
            "has_task_labels",
            "make_stream",
            "split_continuous_linear_decay_stream",
            "with_classes_timeline",
            "with_task_labels",
        )
    },
    **{
        name: "use clhost.benchmarks.with_validation_stream"
        for name in ("split_validation_class_balanced", "split_validation_random")
    },
}
__getattr__, __dir__ = lazy_module(globals(), EXPORTS, UNSUPPORTED)
__all__ = [
    "benchmark_from_datasets",
    "class_incremental_benchmark",
    "dataset_benchmark",
    "nc_benchmark",
    "ni_benchmark",
    "split_online_stream",
    "tensors_benchmark",
    *EXPORTS,
]
