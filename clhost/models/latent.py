"""Latent replay: a model split at a layer, where stored activations join a minibatch.

Latent replay (Pellegrini et al., "Latent Replay for Real-Time Continual Learning", IROS
2020) stores the activations of past samples at a chosen layer instead of the samples;
replayed, they skip the layers below it, which stop learning so the stored activations
stay valid (``clhost.models.freeze``). ``split_sequential`` cuts a (nested)
``nn.Sequential`` at a named layer; ``LatentReplayModel`` runs the two parts and lets a
method join activations at the cut for one forward pass.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from clhost.errors import ParameterError


def flat_layers(model: nn.Sequential, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The layers of ``model`` in order, nested ``nn.Sequential`` containers opened, with
    their dotted names: what ``split_sequential`` may cut after."""
    layers: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            layers += flat_layers(child, f"{prefix}{name}.")
        else:
            layers.append((f"{prefix}{name}", child))
    return layers


def split_sequential(model: nn.Sequential, layer_name: str) -> tuple[nn.Sequential, nn.Sequential]:
    """``(lower, upper)``: the layers of ``model`` up to and including ``layer_name`` (a
    dotted name through nested ``nn.Sequential``), and the rest. Both hold the original
    modules under their original names, so ``upper(lower(x)) == model(x)``."""
    head, _, rest = layer_name.partition(".")
    names = list(model._modules)
    if head not in names:
        raise ParameterError(
            f"cannot split at {layer_name!r}: no layer {head!r} among {', '.join(names)}"
        )
    at = names.index(head)
    child = model._modules[head]
    assert child is not None
    lower = OrderedDict((name, model._modules[name]) for name in names[:at])
    upper = OrderedDict((name, model._modules[name]) for name in names[at + 1 :])
    if rest:
        if not isinstance(child, nn.Sequential):
            raise ParameterError(
                f"cannot split inside {head!r} ({type(child).__name__}): only inside "
                "nn.Sequential containers"
            )
        lower[head], inner_upper = split_sequential(child, rest)
        upper = OrderedDict([(head, inner_upper), *upper.items()])
    else:
        lower[head] = child
    return nn.Sequential(lower), nn.Sequential(upper)


class LatentReplayModel(nn.Module):
    """``upper(lower(x))``, where activations stored at the cut can join the batch.

    Set ``replayed`` to a tensor of stored activations before a forward pass: they are
    appended after the activations of ``x``, so the output has ``len(x) + len(replayed)``
    rows (the targets of the replayed samples go after those of ``x``). After each pass
    ``latent`` holds the activations of ``x`` at the cut (detached). When no parameter of
    ``lower`` learns, ``lower`` runs without building a graph.
    """

    def __init__(self, lower: nn.Module, upper: nn.Module):
        super().__init__()
        self.lower, self.upper = lower, upper
        self.replayed: Tensor | None = None
        self.latent: Tensor | None = None

    @classmethod
    def from_sequential(cls, model: nn.Sequential, layer_name: str) -> LatentReplayModel:
        """``model`` cut after ``layer_name`` (``split_sequential``)."""
        return cls(*split_sequential(model, layer_name))

    def forward(self, x: Tensor) -> Tensor:
        learns = any(p.requires_grad for p in self.lower.parameters())
        with torch.set_grad_enabled(learns and torch.is_grad_enabled()):
            latent = self.lower(x)
        self.latent = latent.detach()
        if self.replayed is not None:
            latent = torch.cat((latent, self.replayed.to(latent.device, latent.dtype)))
        return self.upper(latent)
