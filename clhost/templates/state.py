"""A template's state: its model, optimizer and every stateful component, by stable key.

Lightning's contract: each component saves plain data with ``state_dict()`` and takes it
back with ``load_state_dict()``. The template gathers them under their declared keys
(``clhost.plugin.state_key_of``) and accepts the keys of states saved before keys were
declared, so no checkpoint is orphaned by a rename.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from clhost.errors import CheckpointError
from clhost.plugin import legacy_state_key, state_key_of


class ModelStateMismatch(CheckpointError):
    """The saved model's tensors do not fit the model (names or shapes differ)."""


def keyed(components: Iterable[Any]) -> dict[str, Any]:
    """Each distinct component under its state key; a repeated key gets ``#2``, ``#3`` ...
    in the order given."""
    return _numbered(components, state_key_of)


def legacy_keys(components: Iterable[Any]) -> dict[str, str]:
    """The key each component's state had before keys were declared -> its key now."""
    now = _numbered(components, state_key_of)
    before = _numbered(now.values(), legacy_state_key)
    return {old: new for (old, _), new in zip(before.items(), now, strict=True)}


def stateful(components: Mapping[str, Any]) -> dict[str, Any]:
    """The components that save and load state."""
    return {
        key: component
        for key, component in components.items()
        if callable(getattr(component, "state_dict", None))
        and callable(getattr(component, "load_state_dict", None))
    }


def with_current_keys(
    saved: Mapping[str, Any], components: Mapping[str, Any], legacy: Mapping[str, str]
) -> dict[str, Any]:
    """``saved`` with each legacy key replaced by the key its component has now."""
    return {
        key if key in components else legacy.get(key, key): value for key, value in saved.items()
    }


def check_component_keys(saved: Mapping[str, Any], components: Mapping[str, Any]) -> None:
    """The saved states must be exactly those of the strategy's stateful components."""
    if set(saved) != set(components):
        raise CheckpointError(
            f"the saved state holds components {sorted(saved)} but the strategy has "
            f"stateful components {sorted(components)}"
        )


def check_model_state(model: nn.Module, saved: Mapping[str, Any]) -> None:
    """Raise ``ModelStateMismatch`` naming the tensors that do not fit ``model``."""
    current = model.state_dict()
    problems = [
        f"{name}: not a tensor" for name, value in saved.items() if not torch.is_tensor(value)
    ]
    tensors: dict[str, Tensor] = {k: v for k, v in saved.items() if torch.is_tensor(v)}
    problems += sorted(set(tensors) ^ set(current))
    problems += [
        f"{name}: {tuple(tensors[name].shape)} saved, {tuple(current[name].shape)} now"
        for name in sorted(set(tensors) & set(current))
        if tensors[name].shape != current[name].shape
    ]
    if problems:
        raise ModelStateMismatch(", ".join(problems[:5]))


def load_into(component: Any, state: Any, what: str) -> None:
    """``component.load_state_dict(state)``, any failure a ``CheckpointError`` naming it."""
    try:
        component.load_state_dict(state)
    except CheckpointError as error:
        raise CheckpointError(f"{what}: {error}") from None
    except Exception as error:  # whatever a state of the wrong shape or type makes it raise
        raise CheckpointError(
            f"{what} could not be restored ({reason(error)}); the strategy is partly "
            "restored and must be rebuilt"
        ) from None


def reason(error: BaseException) -> str:
    """The error's type and the first line of its message, if it has one."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def _numbered(components: Iterable[Any], key_of: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    seen: set[int] = set()
    for component in components:
        if component is None or id(component) in seen:
            continue
        seen.add(id(component))
        base = key_of(component)
        key, count = base, 1
        while key in found:
            count += 1
            key = f"{base}#{count}"
        found[key] = component
    return found
