"""Batch augmentations in plain torch, for the second view of contrastive replay.

Each augmentation maps a batch to a batch of the same shape, drawing its randomness
per sample from torch's global generator on the batch's device, so it runs on CPU and
CUDA and needs no torchvision. Flat inputs get feature dropout and Gaussian noise; image
batches ``[N, C, H, W]`` get a random shifted crop and a horizontal flip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

from clhost.errors import ParameterError
from clhost.validate import non_negative_int, number

Augmentation = Callable[[Tensor], Tensor]
AugmentationName = Literal["auto", "noise", "crop-flip"]
NAMES = ("auto", "noise", "crop-flip")


class GaussianNoise:
    """Adds ``N(0, std^2)`` noise to every value."""

    def __init__(self, std: float = 0.1):
        self.std = number("std", std, low=0)

    def __call__(self, x: Tensor) -> Tensor:
        return x + self.std * torch.randn_like(x)


class FeatureDropout:
    """Zeroes each value with probability ``p`` (no rescaling: a masked input, not a
    regulariser)."""

    def __init__(self, p: float = 0.1):
        self.p = number("p", p, low=0, high=1, high_open=True)

    def __call__(self, x: Tensor) -> Tensor:
        return x * (torch.rand_like(x) >= self.p)


class RandomCrop:
    """Pads an image batch by ``padding`` zeros on each side and crops each image back to
    its size at a random offset: a random shift of up to ``padding`` pixels."""

    def __init__(self, padding: int = 4):
        self.padding = non_negative_int("padding", padding)

    def __call__(self, x: Tensor) -> Tensor:
        _require_images(x, "RandomCrop")
        n, _, height, width = x.shape
        pad = self.padding
        padded = F.pad(x, (pad, pad, pad, pad))
        top = torch.randint(0, 2 * pad + 1, (n, 1), device=x.device)
        left = torch.randint(0, 2 * pad + 1, (n, 1), device=x.device)
        rows = (top + torch.arange(height, device=x.device))[:, None, :, None]
        cols = (left + torch.arange(width, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        return padded[batch, channels, rows, cols]


class RandomHorizontalFlip:
    """Mirrors each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = number("p", p, low=0, high=1)

    def __call__(self, x: Tensor) -> Tensor:
        _require_images(x, "RandomHorizontalFlip")
        flip = (torch.rand(len(x), device=x.device) < self.p)[:, None, None, None]
        return torch.where(flip, x.flip(-1), x)


class Compose:
    """Applies augmentations in order."""

    def __init__(self, *augmentations: Augmentation):
        self.augmentations = augmentations

    def __call__(self, x: Tensor) -> Tensor:
        for augmentation in self.augmentations:
            x = augmentation(x)
        return x


class ShapeAware:
    """``images`` for ``[N, C, H, W]`` batches, ``flat`` for every other shape."""

    def __init__(self, images: Augmentation, flat: Augmentation):
        self.images, self.flat = images, flat

    def __call__(self, x: Tensor) -> Tensor:
        return self.images(x) if x.dim() == 4 else self.flat(x)


def noise() -> Compose:
    """Feature dropout (p=0.1) then Gaussian noise (std=0.1): for inputs of any shape."""
    return Compose(FeatureDropout(0.1), GaussianNoise(0.1))


def crop_flip() -> Compose:
    """A random shift of up to 4 pixels and a horizontal flip: for image batches."""
    return Compose(RandomCrop(4), RandomHorizontalFlip(0.5))


def make_augmentations(augmentations: AugmentationName | Augmentation) -> Augmentation:
    """The augmentation named (``"auto"``: crop-flip for image batches, noise otherwise),
    or ``augmentations`` itself when it is a callable."""
    if callable(augmentations):
        return augmentations
    if augmentations == "noise":
        return noise()
    if augmentations == "crop-flip":
        return crop_flip()
    if augmentations == "auto":
        return ShapeAware(images=crop_flip(), flat=noise())
    raise ParameterError(
        f"augmentations must be one of {', '.join(NAMES)} or a callable, got {augmentations!r}"
    )


def _require_images(x: Tensor, name: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{name} needs image batches [N, C, H, W], got shape {tuple(x.shape)}")
