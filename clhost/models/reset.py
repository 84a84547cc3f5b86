"""Put a model back to earlier weights, even after parts of it grew."""

from __future__ import annotations

from itertools import chain

import torch
from torch import Tensor, nn


def snapshot_weights(model: nn.Module) -> dict[str, Tensor]:
    """Copies of every parameter and buffer of ``model``, by name."""
    tensors = chain(model.named_parameters(), model.named_buffers())
    return {name: tensor.detach().clone() for name, tensor in tensors}


@torch.no_grad()
def reinitialise(model: nn.Module, initial: dict[str, Tensor]) -> None:
    """Copy ``initial`` into every module it still fits; reset the others.

    A module that did not exist when ``initial`` was taken, or whose shape changed since
    (a classifier that grew to new classes), is re-initialised with its own
    ``reset_parameters()``. Tensors are overwritten in place, so optimizers keep
    pointing at them.
    """
    for prefix, module in model.named_modules():
        own = {
            f"{prefix}.{name}" if prefix else name: tensor
            for name, tensor in chain(
                module.named_parameters(recurse=False), module.named_buffers(recurse=False)
            )
        }
        if not own:
            continue
        if all(name in initial and initial[name].shape == t.shape for name, t in own.items()):
            for name, tensor in own.items():
                tensor.copy_(initial[name])
        elif hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:
            raise RuntimeError(
                f"cannot re-initialise {prefix or 'the model'} ({type(module).__name__}): it "
                "changed since the first experience and has no reset_parameters()"
            )
