"""AR1's model: a backbone run layer by layer, cut at the latent layer, with batch
renormalization in place of batch norm."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from torch import nn

from clhost.errors import ParameterError
from clhost.models.batch_renorm import replace_batch_norm
from clhost.models.latent import LatentReplayModel, flat_layers
from clhost.models.weights import load_weights

# torchvision classifiers whose forward is features -> pooling -> flatten -> classifier
FEATURES_POOL_CLASSIFIER = ("MobileNetV2", "MobileNetV3", "EfficientNet", "VGG", "AlexNet")
# Avalanche's default: late in the network, a few layers under the classifier; on
# MobileNetV2 layer 19 is features.17, the last inverted residual block
DEFAULT_LATENT_LAYER = 19
RESNET_LAYERS = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


def default_backbone(num_classes: int) -> nn.Module:
    """Avalanche's AR1 uses a MobileNet; here torchvision's MobileNetV2, randomly
    initialised (pretrained weights come only from a file the user gives)."""
    from torchvision.models import mobilenet_v2

    return mobilenet_v2(weights=None, num_classes=num_classes)


def sequential_backbone(model: nn.Module) -> nn.Sequential:
    """``model`` as an ``nn.Sequential`` of its own modules, so it can be cut at a layer:
    an ``nn.Sequential`` as it is; torchvision's MobileNetV2/V3, EfficientNet, VGG and
    AlexNet (features, pooling, flatten, classifier) and ResNets; and models made of
    ``features`` then ``classifier`` (clhost's ``SimpleMLP``, ``SlimResNet18``)."""
    if isinstance(model, nn.Sequential):
        return model
    kind = type(model).__name__
    if type(model).__module__.startswith("torchvision.models"):
        if kind in FEATURES_POOL_CLASSIFIER:
            pool = getattr(model, "avgpool", None) or nn.AdaptiveAvgPool2d(1)
            parts = [("features", model.features), ("avgpool", pool)]
            return _sequential(
                parts + [("flatten", nn.Flatten(1)), ("classifier", model.classifier)]
            )
        if all(hasattr(model, name) for name in (*RESNET_LAYERS, "avgpool", "fc")):
            parts = [(name, getattr(model, name)) for name in (*RESNET_LAYERS, "avgpool")]
            return _sequential(parts + [("flatten", nn.Flatten(1)), ("fc", model.fc)])
    elif isinstance(getattr(model, "features", None), nn.Module) and isinstance(
        getattr(model, "classifier", None), nn.Module
    ):
        return _sequential([("features", model.features), ("classifier", model.classifier)])
    raise ParameterError(
        f"AR1 cannot run {kind} layer by layer: give an nn.Sequential, a torchvision "
        f"{', '.join(FEATURES_POOL_CLASSIFIER)} or ResNet, or a model of 'features' then "
        "'classifier'"
    )


def _sequential(parts: list[tuple[str, Any]]) -> nn.Sequential:
    return nn.Sequential(OrderedDict(parts))


def ar1_model(
    model: nn.Module | None,
    latent_layer_num: int | None,
    *,
    num_classes: int = 50,
    pretrained_weights: str | Path | None = None,
    **renorm: Any,
) -> LatentReplayModel:
    """The model AR1 trains: ``model`` (default: ``default_backbone(num_classes)``) with
    ``pretrained_weights`` loaded, batch norm replaced by ``BatchRenorm(**renorm)``, cut
    after the layer ``latent_layer_num`` of ``flat_layers`` (counted from 0; ``None``:
    ``DEFAULT_LATENT_LAYER`` on the default backbone, else the last layer below the
    classifier)."""
    backbone = model if model is not None else default_backbone(num_classes)
    if pretrained_weights is not None:
        load_weights(backbone, pretrained_weights)
    sequential = sequential_backbone(backbone)
    layers = flat_layers(sequential)
    if latent_layer_num is None:
        latent_layer_num = DEFAULT_LATENT_LAYER if model is None else _below_classifier(layers)
    if not 0 <= latent_layer_num < len(layers) - 1:
        listing = ", ".join(
            f"{i} {name!r} ({type(m).__name__})" for i, (name, m) in enumerate(layers)
        )
        raise ParameterError(
            f"latent_layer_num must leave layers above it: {type(backbone).__name__} has "
            f"{len(layers)} layers ({listing}); got {latent_layer_num}"
        )
    replace_batch_norm(sequential, **renorm)
    return LatentReplayModel.from_sequential(sequential, layers[latent_layer_num][0])


def _below_classifier(layers: list[tuple[str, nn.Module]]) -> int:
    """The index of the layer before the last one holding an ``nn.Linear`` (the
    classifier, or a classifier that grows around one)."""
    linear = max(
        (
            i
            for i, (_, m) in enumerate(layers)
            if any(isinstance(c, nn.Linear) for c in m.modules())
        ),
        default=0,
    )
    if linear == 0:
        raise ParameterError(
            "latent_layer_num: the model has no nn.Linear classifier with layers below"
        )
    return linear - 1
