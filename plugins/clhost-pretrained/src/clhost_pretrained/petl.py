"""Parameter-efficient adaptation of a frozen backbone: SSF (Lian et al., NeurIPS 2022),
a learned per-feature scale and shift after every linear layer and layer norm, trained
while the backbone's own weights stay fixed (RanPAC's first-session adaptation)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from clhost import distributed


class ScaleShift(nn.Module):
    """``output * scale + shift`` over the last dimension of one layer's output; starts
    as the identity (scale 1, shift 0), so the adapted backbone starts as the pretrained
    one."""

    def __init__(self, width: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(width))
        self.shift = nn.Parameter(torch.zeros(width))

    def hook(self, module: nn.Module, args: tuple[Any, ...], output: Tensor) -> Tensor:
        """A forward hook (a bound method: deep copies of the model copy it with this
        module)."""
        return output * self.scale.to(output.dtype) + self.shift.to(output.dtype)


class SSF(nn.Module):
    """A ``ScaleShift`` after each ``nn.Linear`` and ``nn.LayerNorm`` of ``backbone``
    (a ViT's qkv, projections, MLP layers and norms), attached as forward hooks. The
    backbone's weights are untouched; only these scales and shifts train. ``done`` (a
    buffer, so checkpoints keep it) says the adaptation is over."""

    done: Tensor

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.layers = nn.ModuleList()
        for module in backbone.modules():
            if isinstance(module, nn.Linear):
                width = module.out_features
            elif isinstance(module, nn.LayerNorm):
                width = module.normalized_shape[-1]
            else:
                continue
            layer = ScaleShift(width)
            module.register_forward_hook(layer.hook)
            self.layers.append(layer)
        self.register_buffer("done", torch.zeros((), dtype=torch.bool))


def start_alike(parameters: Iterable[Tensor]) -> None:
    """Rank 0's values of ``parameters`` on every rank (under distributed training; a
    freshly drawn head may differ between ranks)."""
    with torch.no_grad():
        for parameter in parameters:
            distributed.broadcast_tensor(parameter)


def average_gradients(parameters: Iterable[Tensor]) -> None:
    """The gradients of ``parameters`` averaged over ranks, as DDP does: each rank saw its
    share of the minibatch, so every rank takes the same step."""
    for parameter in parameters:
        if parameter.grad is not None:
            distributed.all_reduce_mean(parameter.grad)
