"""The loss gradient of every sample, flattened over the trainable parameters."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from clhost.models import MultiTaskModule


def per_sample_gradients(model: nn.Module, x: Tensor, y: Tensor, t: Tensor) -> Tensor:
    """One row per sample: the gradient of its cross-entropy with respect to every
    trainable parameter of ``model``, concatenated.

    The model is evaluated in eval mode (BatchNorm cannot normalise a single sample, and
    dropout would make the rows random), and its mode is restored afterwards. Multi-task
    models pick a head per sample with Python control flow, so they are differentiated
    one sample at a time; other models in one vectorised call.
    """
    was_training = model.training
    model.eval()
    try:
        if isinstance(model, MultiTaskModule):
            return _one_by_one(model, x, y, t)
        return _vectorised(model, x, y)
    finally:
        model.train(was_training)


def _vectorised(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())

    def loss(parameters: dict[str, Tensor], xi: Tensor, yi: Tensor) -> Tensor:
        output = functional_call(model, (parameters, buffers), (xi.unsqueeze(0),))
        return F.cross_entropy(output, yi.unsqueeze(0))

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    return torch.cat([g.reshape(len(x), -1) for g in grads.values()], dim=1)


def _one_by_one(model: nn.Module, x: Tensor, y: Tensor, t: Tensor) -> Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(len(x)):
        loss = F.cross_entropy(model(x[i : i + 1], t[i : i + 1]), y[i : i + 1])
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(params, grads, strict=True)
                ]
            )
        )
    return torch.stack(rows)
