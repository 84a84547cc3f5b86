"""Reference models, and the dynamic modules that grow with a stream."""

from clhost.models.dynamic import (
    DynamicModule,
    IncrementalClassifier,
    MultiHeadClassifier,
    MultiTaskModule,
    adapt_model,
    forward_with_tasks,
    grown_linear,
)
from clhost.models.ncm import NCMClassifier
from clhost.models.optim import refresh_optimizer
from clhost.models.reset import reinitialise, snapshot_weights
from clhost.models.resnet import SlimResNet18
from clhost.models.simple import IncrementalMLP, MultiHeadMLP, SimpleMLP

__all__ = [
    "DynamicModule",
    "IncrementalClassifier",
    "IncrementalMLP",
    "MultiHeadClassifier",
    "MultiHeadMLP",
    "MultiTaskModule",
    "NCMClassifier",
    "SimpleMLP",
    "SlimResNet18",
    "adapt_model",
    "forward_with_tasks",
    "grown_linear",
    "refresh_optimizer",
    "reinitialise",
    "snapshot_weights",
]
