"""Shared base of clhost's pretrained-model methods: timm backbones loaded offline from
local weights, the prompt pool and prompted ViT (L2P), the frozen-feature template
of closed-form classifiers (SimpleCIL, RanPAC), and the on-device resizing of input
batches to a backbone's pretrained input."""

from clhost_pretrained.backbone import create_backbone, features, freeze, query
from clhost_pretrained.frozen import (
    ClosedFormClassifier,
    FrozenFeatureModel,
    FrozenFeatureTemplate,
    build_backbone,
    grown,
)
from clhost_pretrained.inputs import DeviceResize, resize_inputs
from clhost_pretrained.petl import SSF, ScaleShift
from clhost_pretrained.prompt import PromptPool, PromptSelection
from clhost_pretrained.prompted import PromptedViT

__all__ = [
    "ClosedFormClassifier",
    "DeviceResize",
    "FrozenFeatureModel",
    "FrozenFeatureTemplate",
    "PromptPool",
    "PromptSelection",
    "PromptedViT",
    "SSF",
    "ScaleShift",
    "build_backbone",
    "create_backbone",
    "features",
    "freeze",
    "grown",
    "query",
    "resize_inputs",
]
