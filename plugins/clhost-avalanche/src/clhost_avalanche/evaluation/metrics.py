"""``avalanche.evaluation.metrics``: the metric factories with Avalanche's keywords."""

from __future__ import annotations

from collections.abc import Mapping

from clhost_avalanche._exports import lazy_module, not_supported
from clhost_avalanche.evaluation import running, transfer
from clhost_avalanche.evaluation.base import Metric, PluginMetric
from clhost_avalanche.evaluation.confusion import StreamConfusionMatrix

GRANULARITIES = ("minibatch", "epoch", "epoch_running", "experience", "stream")
ACCURACY = dict(
    zip(
        GRANULARITIES,
        (
            running.MinibatchAccuracy,
            running.EpochAccuracy,
            running.RunningEpochAccuracy,
            running.ExperienceAccuracy,
            running.StreamAccuracy,
        ),
        strict=True,
    )
)
LOSS = dict(
    zip(
        GRANULARITIES,
        (
            running.MinibatchLoss,
            running.EpochLoss,
            running.RunningEpochLoss,
            running.ExperienceLoss,
            running.StreamLoss,
        ),
        strict=True,
    )
)
TIMING = dict(
    zip(
        GRANULARITIES,
        (
            running.MinibatchTime,
            running.EpochTime,
            running.RunningEpochTime,
            running.ExperienceTime,
            running.StreamTime,
        ),
        strict=True,
    )
)
FORGETTING = {"experience": transfer.ExperienceForgetting, "stream": transfer.StreamForgetting}
BWT = {"experience": transfer.ExperienceBWT, "stream": transfer.StreamBWT}
FORWARD_TRANSFER = {
    "experience": transfer.ExperienceForwardTransfer,
    "stream": transfer.StreamForwardTransfer,
}


def _chosen(family: Mapping[str, type], flags: Mapping[str, bool]) -> list[PluginMetric]:
    """One metric of ``family`` per granularity flag set, in Avalanche's order."""
    return [metric() for flag, metric in family.items() if flags[flag]]


def accuracy_metrics(
    *,
    minibatch: bool = False,
    epoch: bool = False,
    epoch_running: bool = False,
    experience: bool = False,
    stream: bool = False,
    trained_experience: bool = False,
) -> list[PluginMetric]:
    """Top-1 accuracy at the chosen granularities (Avalanche's keys)."""
    if trained_experience:
        raise not_supported(
            "accuracy_metrics(trained_experience=True)",
            "read the accuracy matrix of clhost's EvalResult (columns of trained experiences)",
        )
    return _chosen(ACCURACY, locals())


def loss_metrics(
    *,
    minibatch: bool = False,
    epoch: bool = False,
    epoch_running: bool = False,
    experience: bool = False,
    stream: bool = False,
) -> list[PluginMetric]:
    """The mean loss per sample at the chosen granularities."""
    return _chosen(LOSS, locals())


def timing_metrics(
    *,
    minibatch: bool = False,
    epoch: bool = False,
    epoch_running: bool = False,
    experience: bool = False,
    stream: bool = False,
) -> list[PluginMetric]:
    """Wall-clock seconds at the chosen granularities."""
    return _chosen(TIMING, locals())


def forgetting_metrics(*, experience: bool = False, stream: bool = False) -> list[PluginMetric]:
    """Accuracy forgetting per evaluated experience and averaged over the stream."""
    return _chosen(FORGETTING, locals())


def bwt_metrics(*, experience: bool = False, stream: bool = False) -> list[PluginMetric]:
    """Backward transfer: forgetting with the opposite sign."""
    return _chosen(BWT, locals())


def forward_transfer_metrics(
    *, experience: bool = False, stream: bool = False
) -> list[PluginMetric]:
    """Forward transfer (needs the strategy's ``eval_every >= 0``)."""
    return _chosen(FORWARD_TRANSFER, locals())


def confusion_matrix_metrics(
    num_classes: int | None = None,
    normalize: str | None = None,
    save_image: bool = True,
    image_creator: object = None,
    class_names: object = None,
    stream: bool = False,
    wandb: bool = False,
    absolute_class_order: bool = False,
) -> list[PluginMetric]:
    """The stream's confusion matrix as a tensor."""
    if save_image or image_creator is not None or wandb or class_names is not None:
        raise not_supported(
            "confusion_matrix_metrics(save_image/image_creator/class_names/wandb)",
            "pass save_image=False: the value is the count tensor (plot it with clhost report)",
        )
    return [StreamConfusionMatrix(num_classes, normalize)] if stream else []


MIRRORED_CLASSES = {
    metric.__name__: f"{metric.__module__}:{metric.__name__}"
    for family in (ACCURACY, LOSS, TIMING, FORGETTING, BWT, FORWARD_TRANSFER)
    for metric in family.values()
} | {
    "StreamConfusionMatrix": "clhost_avalanche.evaluation.confusion:StreamConfusionMatrix",
    "GenericPluginMetric": "clhost_avalanche.evaluation.running:RunningMetric",
}
"""Avalanche's plugin-metric classes this layer has (the factories above build them)."""

UNSUPPORTED = {
    name: "clhost measures these with its own evaluation (clhost.evaluation, docs/metrics.md)"
    for name in (
        "ram_usage_metrics",
        "cpu_usage_metrics",
        "gpu_usage_metrics",
        "disk_usage_metrics",
        "MAC_metrics",
        "labels_repartition_metrics",
        "images_samples_metrics",
        "class_accuracy_metrics",
        "amca_metrics",
        "topk_acc_metrics",
        "mean_scores_metrics",
        "accuracy_matrix_metrics",
    )
} | {
    name: "use the factories (accuracy_metrics, loss_metrics, ...) or subclass PluginMetric; "
    "the standalone metric classes are not mirrored"
    for name in (
        "AMCAPluginMetric",
        "Accuracy",
        "AccuracyMatrixPluginMetric",
        "AccuracyPerTaskPluginMetric",
        "AverageMeanClassAccuracy",
        "BWT",
        "CPUUsage",
        "ClassAccuracy",
        "ConfusionMatrix",
        "CumulativeAccuracy",
        "CumulativeAccuracyPluginMetric",
        "CumulativeForgettingPluginMetric",
        "DiskUsage",
        "ElapsedTime",
        "EpochCPUUsage",
        "EpochClassAccuracy",
        "EpochDiskUsage",
        "EpochMAC",
        "EpochMaxGPU",
        "EpochMaxRAM",
        "EpochTopkAccuracy",
        "ExperienceCPUUsage",
        "ExperienceClassAccuracy",
        "ExperienceDiskUsage",
        "ExperienceMAC",
        "ExperienceMaxGPU",
        "ExperienceMaxRAM",
        "ExperienceTopkAccuracy",
        "Forgetting",
        "ForwardTransfer",
        "GenericExperienceForgetting",
        "GenericExperienceForwardTransfer",
        "GenericStreamForgetting",
        "GenericStreamForwardTransfer",
        "ImagesSamplePlugin",
        "LabelsRepartition",
        "LabelsRepartitionPlugin",
        "LossMetric",
        "MAC",
        "MaxGPU",
        "MaxRAM",
        "Mean",
        "MeanNewOldScores",
        "MeanScores",
        "MeanScoresEvalPluginMetric",
        "MeanScoresTrainPluginMetric",
        "MinibatchCPUUsage",
        "MinibatchClassAccuracy",
        "MinibatchDiskUsage",
        "MinibatchMAC",
        "MinibatchMaxGPU",
        "MinibatchMaxRAM",
        "MinibatchTopkAccuracy",
        "MultiStreamAMCA",
        "PerClassMeanScores",
        "RunningEpochCPUUsage",
        "RunningEpochClassAccuracy",
        "RunningEpochTopkAccuracy",
        "StreamCPUUsage",
        "StreamClassAccuracy",
        "StreamDiskUsage",
        "StreamMaxGPU",
        "StreamMaxRAM",
        "StreamTopkAccuracy",
        "Sum",
        "TaskAwareAccuracy",
        "TaskAwareLoss",
        "TopkAccuracy",
        "TrainedExperienceAccuracy",
        "TrainedExperienceTopkAccuracy",
        "WandBStreamConfusionMatrix",
        "WeightCheckpoint",
    )
}
__getattr__, __dir__ = lazy_module(globals(), MIRRORED_CLASSES, UNSUPPORTED)

__all__ = [
    *MIRRORED_CLASSES,
    "Metric",
    "PluginMetric",
    "accuracy_metrics",
    "bwt_metrics",
    "confusion_matrix_metrics",
    "forgetting_metrics",
    "forward_transfer_metrics",
    "loss_metrics",
    "timing_metrics",
]
