"""Pretrained weights from a local file: methods built on a pretrained backbone (AR1,
ExpertGate) read them from a path the user gives and never download anything."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from clhost.errors import ParameterError


def load_weights(model: nn.Module, path: str | Path, what: str = "pretrained_weights") -> None:
    """Load a state dict saved with ``torch.save`` from ``path`` (read without unpickling
    objects); tensors whose shape differs from the model's (a classifier for another
    number of classes) are left as they are. ``what`` names the parameter in errors."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as error:
        raise ParameterError(f"{what}: cannot read {str(path)!r}: {error}") from None
    if not isinstance(state, dict):
        raise ParameterError(f"{what}: {str(path)!r} holds no state dict")
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = sorted(set(own) - set(state))
    unknown = sorted(set(state) - set(own))
    if missing or unknown:
        raise ParameterError(
            f"{what}: {str(path)!r} does not fit {type(model).__name__}: "
            f"missing {missing[:5]}, unexpected {unknown[:5]}"
        )
    model.load_state_dict(fitting, strict=False)
