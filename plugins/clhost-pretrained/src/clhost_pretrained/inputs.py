"""Images brought to a pretrained backbone's input on the device, a minibatch at a time.

A benchmark keeps its images small on the host (Split CIFAR-100: 3x32x32, in [0, 1] or
uint8); ``resize_inputs`` makes the backbone resize and normalise whatever minibatch
reaches it, with ``torch.nn.functional.interpolate`` on the backbone's device, to the
input its weights were trained on (size, mean, std and interpolation from timm's
pretrained configuration). No per-sample Python transform, no 224x224 copy of the data
set in host memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clhost.errors import ParameterError

_MODES = ("bicubic", "bilinear", "nearest")


class DeviceResize(nn.Module):
    """``(x - mean) / std`` of ``x`` resized to ``size`` (``interpolation``: bicubic,
    bilinear or nearest; antialiased when shrinking, as torchvision's ``Resize``).
    ``x`` is a batch of images ``(B, C, H, W)``: uint8 (0-255) or float in [0, 1]; a
    single channel is repeated to the channels of ``mean``. Equals torchvision's
    ``Resize(size) + Normalize(mean, std)`` applied sample by sample."""

    mean: Tensor
    std: Tensor

    def __init__(
        self,
        size: int | Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        interpolation: str = "bicubic",
    ):
        super().__init__()
        sizes = (size, size) if isinstance(size, int) else tuple(size)
        if len(sizes) != 2 or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise ParameterError(f"size must be a positive int or (height, width), got {size!r}")
        if interpolation not in _MODES:
            raise ParameterError(
                f"interpolation must be one of {', '.join(_MODES)}, got {interpolation!r}"
            )
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ParameterError(f"mean {tuple(mean)} and std {tuple(std)} do not fit")
        self.size: tuple[int, int] = sizes
        self.interpolation = interpolation
        # not persistent: rebuilt from the configuration, never part of a checkpoint
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        self._checked = False

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ParameterError(f"resize_inputs needs images (B, C, H, W), got {tuple(x.shape)}")
        if x.dtype == torch.uint8:
            x = x.float().div_(255)
        elif not self._checked:  # one look, not a device sync per minibatch
            self._checked = True
            if len(x) and (x.min() < 0 or x.max() > 1):
                raise ParameterError(
                    "resize_inputs normalises images in [0, 1] (or uint8), and these are "
                    "not: load the benchmark unnormalised (clhost-vision: normalize=False)"
                )
        if x.shape[1] == 1 and len(self.mean.view(-1)) > 1:
            x = x.expand(-1, len(self.mean.view(-1)), -1, -1)
        if tuple(x.shape[2:]) != self.size:
            antialias = self.interpolation != "nearest"
            x = F.interpolate(x, self.size, mode=self.interpolation, antialias=antialias)
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def hook(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """A forward pre-hook transforming the first argument (deep copies of the model
        copy the hook with this module)."""
        return (self(args[0]), *args[1:])

    def extra_repr(self) -> str:
        return f"size={self.size}, interpolation={self.interpolation!r}"


def resize_inputs(backbone: nn.Module, **overrides: Any) -> DeviceResize:
    """Make the timm model ``backbone`` resize and normalise its input batches on its
    device, and return the ``DeviceResize`` doing it (kept as ``backbone.input_transform``).

    The size is the one the model was built for (its patch embedding's image size, else
    its pretrained configuration's), and mean, std and interpolation come from the
    pretrained configuration; ``overrides`` (``size``, ``mean``, ``std``,
    ``interpolation``) replace them. The transform runs before the model's first layer
    (the top-level module holding the configuration's ``first_conv``), so every way into
    the model (``forward``, ``forward_features``, a prompted model's own pass through its
    patch embedding) sees resized images. Asking twice returns the first transform."""
    existing = getattr(backbone, "input_transform", None)
    if isinstance(existing, DeviceResize):
        return existing
    config = getattr(backbone, "pretrained_cfg", None)
    first = (config or {}).get("first_conv")
    if not config or not first:
        raise ParameterError(
            f"resize_inputs needs a timm model (with a pretrained configuration), got "
            f"{type(backbone).__name__}"
        )
    entry = backbone.get_submodule(first.split(".")[0])
    built = getattr(getattr(backbone, "patch_embed", None), "img_size", None)
    settings = {
        "size": tuple(built) if built else tuple(config["input_size"][1:]),
        "mean": config.get("mean", (0.0,)),
        "std": config.get("std", (1.0,)),
        "interpolation": config.get("interpolation", "bicubic"),
        **overrides,
    }
    transform = DeviceResize(**settings)
    parameter = next(backbone.parameters(), None)
    if parameter is not None:
        transform.to(parameter.device)
    backbone.input_transform = transform
    entry.register_forward_pre_hook(transform.hook)
    return transform
