"""Keep an optimizer in step with a model whose parameters were replaced or added."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn


def refresh_optimizer(
    optimizer: torch.optim.Optimizer,
    before: Mapping[str, nn.Parameter],
    model: nn.Module,
) -> None:
    """Swap replaced parameters in place, add new ones to the first group, drop removed ones.

    Unchanged parameters keep their state untouched. A replaced parameter keeps the state
    of the one it replaced, grown with zeros where its shape grew (a head with more units
    keeps the momentum of its old units).
    """
    after = dict(model.named_parameters())
    group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    for name, new in after.items():
        old = before.get(name)
        if old is new:
            continue
        if old is not None and id(old) in group_of:
            params = group_of[id(old)]["params"]
            params[next(i for i, p in enumerate(params) if p is old)] = new
            state = optimizer.state.pop(old, None)
            if state:
                optimizer.state[new] = {k: _fit(v, old, new) for k, v in state.items()}
        elif old is None and id(new) not in group_of:
            optimizer.param_groups[0]["params"].append(new)
    current = {id(p) for p in after.values()}
    for name, old in before.items():
        if name not in after and id(old) in group_of and id(old) not in current:
            group = group_of[id(old)]
            group["params"] = [p for p in group["params"] if p is not old]
            optimizer.state.pop(old, None)


def _fit(value: object, old: Tensor, new: Tensor) -> object:
    if not isinstance(value, Tensor) or value.shape != old.shape or old.shape == new.shape:
        return value
    grown = torch.zeros_like(new)
    overlap = tuple(slice(0, min(a, b)) for a, b in zip(old.shape, new.shape, strict=True))
    grown[overlap] = value[overlap]
    return grown
