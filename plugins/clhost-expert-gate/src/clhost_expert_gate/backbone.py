"""The backbone Expert Gate's feature extractor and experts start from: a torchvision
model by name (weights only from a local file), any classifier, or a small MLP."""

from __future__ import annotations

import copy
from pathlib import Path

from torch import Tensor, nn

from clhost.errors import ParameterError, UnknownNameError
from clhost.models import SimpleMLP, last_linear, load_weights, named_layer


class ImageView(nn.Module):
    """Flat inputs viewed as images of ``shape``; one channel repeated to ``channels``."""

    def __init__(self, shape: tuple[int, ...], channels: int):
        super().__init__()
        self.shape, self.channels = tuple(shape), channels

    def forward(self, x: Tensor) -> Tensor:
        images = x.reshape(len(x), *self.shape)
        if images.shape[1] == 1 and self.channels != 1:
            images = images.expand(-1, self.channels, *images.shape[2:])
        return images


def torchvision_model(name: str, num_classes: int) -> nn.Module:
    """torchvision's ``name`` with random weights (never a download)."""
    from torchvision import models  # type: ignore[import-untyped]

    known = models.list_models(module=models)
    if name not in known:
        raise UnknownNameError("torchvision backbone", name, known)
    return models.get_model(name, weights=None, num_classes=num_classes)


def feature_body(
    backbone: str | nn.Module | None,
    *,
    pretrained_weights: str | Path | None,
    num_classes: int,
    in_features: int,
    hidden_size: int,
    input_shape: tuple[int, ...] | None,
) -> tuple[nn.Module, int]:
    """The backbone with its weights loaded and its last linear layer replaced by the
    identity, and the width of the features it then gives."""
    if backbone is None:
        model: nn.Module = SimpleMLP(num_classes, in_features, (hidden_size,))
    elif isinstance(backbone, str):
        model = torchvision_model(backbone, num_classes)
    elif isinstance(backbone, nn.Module):
        model = copy.deepcopy(backbone)
    else:
        raise ParameterError(
            f"backbone must be a torchvision model name, an nn.Module or None, got {backbone!r}"
        )
    if pretrained_weights is not None:
        load_weights(model, pretrained_weights)
    name, linear = last_linear(model)
    parent, _, child = name.rpartition(".")
    setattr(named_layer(model, parent) if parent else model, child, nn.Identity())
    if input_shape is None:
        return model, linear.in_features
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    channels = convs[0].in_channels if convs else int(input_shape[0])
    return nn.Sequential(ImageView(tuple(input_shape), channels), model), linear.in_features
