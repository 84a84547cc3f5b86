"""Retrospective Adversarial Replay (Kumari et al., NeurIPS 2022) for clhost."""

from clhost_rar.adversarial import forward_with_latent, nearest_neighbours, targeted_fgsm
from clhost_rar.mixup import mixup
from clhost_rar.plugin import RARPlugin
from clhost_rar.strategy import RAR

__all__ = [
    "RAR",
    "RARPlugin",
    "forward_with_latent",
    "mixup",
    "nearest_neighbours",
    "targeted_fgsm",
]
