"""The pieces of a retrospective adversarial sample: latent features, the nearest current
neighbour of each buffered sample, and a targeted iterative FGSM toward its class."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from clhost.errors import ParameterError, UnknownNameError
from clhost.models import forward_with_tasks


def forward_with_latent(
    model: nn.Module, x: Tensor, t: Tensor, layer_name: str | None = None
) -> tuple[Tensor, Tensor]:
    """The model's output for ``x`` and the flattened latent features of every sample.

    The latent space is the output of ``layer_name``; by default the output of the
    model's ``features`` module, or else the input of its last registered module with
    parameters (normally the classifier, so the penultimate layer). The layer is looked
    up at every call, so classifiers replaced by growth are followed.
    """
    module, read_input = latent_layer(model, layer_name)
    captured: list[Tensor] = []

    def keep_input(module: nn.Module, inputs: tuple[Any, ...]) -> None:
        captured.append(inputs[0])

    def keep_output(module: nn.Module, inputs: Any, output: Any) -> None:
        captured.append(output)

    if read_input:
        handle = module.register_forward_pre_hook(keep_input)
    else:
        handle = module.register_forward_hook(keep_output)
    try:
        output = forward_with_tasks(model, x, t)
    finally:
        handle.remove()
    if len(captured) != 1 or not isinstance(captured[0], Tensor) or len(captured[0]) != len(x):
        raise ValueError(
            f"the latent layer ({type(module).__name__}) must run once per forward on the "
            "whole minibatch and give a tensor; choose another one (RARPlugin's name_ext_layer)"
        )
    return output, captured[0].flatten(1)


def latent_layer(model: nn.Module, layer_name: str | None) -> tuple[nn.Module, bool]:
    """The module whose output (``False``) or input (``True``) is the latent space."""
    if layer_name is not None:
        layers = dict(model.named_modules())
        if layer_name not in layers or not layer_name:
            raise UnknownNameError("layer", layer_name, [name for name in layers if name])
        return layers[layer_name], False
    features = getattr(model, "features", None)
    if isinstance(features, nn.Module):
        return features, False
    with_parameters = [
        module
        for module in model.modules()
        if next(module.children(), None) is None
        and next(module.parameters(recurse=False), None) is not None
    ]
    if not with_parameters:
        raise ParameterError(
            f"{type(model).__name__} has no 'features' module and no layer with parameters; "
            "name the latent layer (RARPlugin's name_ext_layer)"
        )
    return with_parameters[-1], True


def nearest_neighbours(
    memory_features: Tensor,
    current_features: Tensor,
    memory_y: Tensor,
    current_y: Tensor,
    memory_t: Tensor | None = None,
    current_t: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """For each buffered sample, the index of the closest current sample (Euclidean
    distance in the latent space) among those of another class, and whether it has one.

    A neighbour of the buffered sample's own class would give a target that is no attack.
    With task labels (multi-task models), only current samples of the same task count:
    the output units of other tasks are not this sample's to cross.
    """
    distances = torch.cdist(memory_features, current_features.to(memory_features.dtype))
    allowed = memory_y[:, None] != current_y[None, :]
    if memory_t is not None and current_t is not None:
        allowed &= memory_t[:, None] == current_t[None, :]
    nearest = distances.masked_fill(~allowed, float("inf")).argmin(dim=1)
    return nearest, allowed.any(dim=1)


def targeted_fgsm(
    model: nn.Module,
    x: Tensor,
    t: Tensor,
    target: Tensor,
    *,
    epsilon: float,
    iterations: int,
    decay: float = 1.0,
) -> Tensor:
    """``x`` after ``iterations`` signed-gradient steps that lower the cross-entropy of
    ``target`` (an iterative targeted FGSM, Goodfellow et al. 2015; Kurakin et al. 2017).

    Step ``k`` (from 0) has size ``epsilon * decay**k``, so the perturbation's infinity
    norm is at most the sum of the step sizes. Only the input's gradient is computed: the
    parameters' gradients are left as they were. The model's mode is the caller's choice.
    """
    adversarial, step = x.detach(), epsilon
    for _ in range(iterations):
        adversarial.requires_grad_(True)
        loss = F.cross_entropy(forward_with_tasks(model, adversarial, t), target, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, adversarial)
        adversarial = (adversarial - step * gradient.sign()).detach()
        step *= decay
    return adversarial
