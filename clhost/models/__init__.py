"""Reference models, the dynamic modules that grow with a stream, and the parts
architectural methods change: frozen layers, batch renormalization, latent replay."""

from clhost.models.batch_renorm import BatchRenorm, replace_batch_norm, set_renorm
from clhost.models.dynamic import (
    DynamicModule,
    IncrementalClassifier,
    MultiHeadClassifier,
    MultiTaskModule,
    adapt_model,
    forward_with_tasks,
    grown_linear,
)
from clhost.models.freeze import freeze_below, freeze_except, freeze_modules, is_frozen, unfreeze
from clhost.models.latent import LatentReplayModel, flat_layers, split_sequential
from clhost.models.layers import last_linear, named_layer
from clhost.models.ncm import NCMClassifier
from clhost.models.optim import refresh_optimizer
from clhost.models.reset import reinitialise, snapshot_weights
from clhost.models.resnet import SlimResNet18
from clhost.models.simple import IncrementalMLP, MultiHeadMLP, SimpleMLP
from clhost.models.weights import load_weights

__all__ = [
    "BatchRenorm",
    "DynamicModule",
    "IncrementalClassifier",
    "IncrementalMLP",
    "LatentReplayModel",
    "MultiHeadClassifier",
    "MultiHeadMLP",
    "MultiTaskModule",
    "NCMClassifier",
    "SimpleMLP",
    "SlimResNet18",
    "adapt_model",
    "flat_layers",
    "forward_with_tasks",
    "freeze_below",
    "freeze_except",
    "freeze_modules",
    "grown_linear",
    "is_frozen",
    "last_linear",
    "load_weights",
    "named_layer",
    "refresh_optimizer",
    "reinitialise",
    "replace_batch_norm",
    "set_renorm",
    "snapshot_weights",
    "split_sequential",
    "unfreeze",
]
