"""Supervised Contrastive Replay (Mai et al., 2021) for clhost."""

from clhost_scr.augment import (
    Compose,
    FeatureDropout,
    GaussianNoise,
    RandomCrop,
    RandomHorizontalFlip,
    make_augmentations,
)
from clhost_scr.model import SCRModel, projection_head, scr_model
from clhost_scr.plugin import SCRPlugin
from clhost_scr.strategy import SCR

__all__ = [
    "SCR",
    "Compose",
    "FeatureDropout",
    "GaussianNoise",
    "RandomCrop",
    "RandomHorizontalFlip",
    "SCRModel",
    "SCRPlugin",
    "make_augmentations",
    "projection_head",
    "scr_model",
]
