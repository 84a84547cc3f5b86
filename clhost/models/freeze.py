"""Freezing parts of a model: architectural methods (CWR*, AR1) train only some layers.

A frozen module's own parameters stop receiving gradients, and the module stays in
evaluation mode even when the template calls ``model.train()`` (at the start of every
``train()``, after every periodic evaluation): batch-norm statistics stop moving and
dropout stops dropping. ``unfreeze`` undoes exactly what freezing did, so parameters a
user had frozen themselves stay frozen.

The frozen set is not part of a model's ``state_dict``: a method freezes again when it
resumes (AR1 and CWR* freeze at the start of every experience after the first).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

from clhost.models.layers import named_layer

# parameter names (recurse=False) a module had frozen by ``freeze_modules``
FROZEN_ATTRIBUTE = "clhost_frozen_parameters"


def _keep_eval(module: nn.Module, args: Any) -> None:
    module.training = False


def freeze_modules(modules: Iterable[nn.Module], *, keep_eval: bool = True) -> None:
    """Freeze each module's own parameters (not its children's) and, with ``keep_eval``,
    pin it in eval mode. Freezing a frozen module again changes nothing."""
    for module in modules:
        if hasattr(module, FROZEN_ATTRIBUTE):
            continue
        frozen = [name for name, p in module.named_parameters(recurse=False) if p.requires_grad]
        for name in frozen:
            getattr(module, name).requires_grad_(False)
        setattr(module, FROZEN_ATTRIBUTE, tuple(frozen))
        if keep_eval:
            module.register_forward_pre_hook(_keep_eval)
            module.training = False


def unfreeze(model: nn.Module) -> None:
    """Undo ``freeze_modules`` on every module of ``model``; modes follow the next
    ``model.train()``/``model.eval()``."""
    for module in model.modules():
        frozen = module.__dict__.pop(FROZEN_ATTRIBUTE, None)
        if frozen is None:
            continue
        for name in frozen:
            getattr(module, name).requires_grad_(True)
        hooks = module._forward_pre_hooks
        for key in [key for key, hook in hooks.items() if hook is _keep_eval]:
            del hooks[key]


def is_frozen(module: nn.Module) -> bool:
    """Whether ``freeze_modules`` froze ``module`` itself."""
    return hasattr(module, FROZEN_ATTRIBUTE)


def freeze_except(model: nn.Module, keep: nn.Module) -> None:
    """Freeze every module of ``model`` but ``keep`` and its submodules; the modules that
    contain ``keep`` only have their own parameters frozen, their mode left alone."""
    kept = {id(m) for m in keep.modules()}
    holders = {id(m) for m in model.modules() if any(id(c) in kept for c in m.modules())}
    freeze_modules(m for m in model.modules() if id(m) not in kept | holders)
    freeze_modules((m for m in model.modules() if id(m) in holders - kept), keep_eval=False)


def freeze_below(model: nn.Module, layer_name: str) -> list[str]:
    """Freeze every module registered before the layer ``layer_name`` (the input side in a
    sequential model), not the modules containing it; returns the names frozen."""
    named_layer(model, layer_name)
    below: list[str] = []
    for name, module in model.named_modules():
        if name == layer_name:
            break
        if name and not layer_name.startswith(name + "."):
            below.append(name)
            freeze_modules([module])
    return below
