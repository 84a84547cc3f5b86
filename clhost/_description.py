"""What an experiment is made of, as plain data, so a checkpoint can refuse another one.

``describe_experiment`` reads a freshly built strategy: the class and constructor
parameters (defaults included) of the strategy, of each plugin, of the criterion and of
the components they hold (buffer, selection strategy ...), the optimizer's
hyperparameters, the model's layers, and the benchmark's streams down to a digest of
their data. Two runs with equal descriptions train alike; ``differences`` names what two
descriptions disagree on. A parameter is read back from the attribute of the same name
(or with a leading underscore), the convention clhost components follow, and the other
attributes of a plugin or criterion are described with it (what it built from its
parameters: a buffer, a loss, options; its state is still empty); a tensor counts by
shape and dtype only, since its values are state that the checkpoint restores.

Left out on purpose, as they do not change what is learnt: ``device`` (a run may
continue on another machine; results agree up to floating-point rounding),
``num_workers``, the evaluator and its loggers, and where files are written.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import inspect
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

# constructor parameters that are not part of the description (described on their own
# or not changing results)
_IGNORED = frozenset(
    {"self", "device", "num_workers", "evaluator", "plugins", "model", "optimizer", "criterion"}
)
_DEPTH = 3  # components held by components held by ... a plugin, at most
_SHOWN = 3  # differences named in one message


def describe_experiment(
    strategy: Any, benchmark: Any = None, settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The plain-data description of a strategy before training; ``settings`` adds facts
    its objects do not show (``clhost run`` adds the seed it built them with)."""
    description: dict[str, Any] = {
        "strategy": _component(strategy, frozenset(), 0, holdings=False),
        "model": _model(strategy.model),
        "optimizer": _optimizer(getattr(strategy, "optimizer", None)),
        "criterion": _value(getattr(strategy, "loss_fn", None), frozenset(), 0),
        "plugins": [_component(plugin, frozenset(), 0) for plugin in strategy.plugins],
    }
    if benchmark is not None:
        description["benchmark"] = _benchmark(benchmark)
    if settings:
        description["settings"] = _value(dict(settings), frozenset(), 0)
    return description


def differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between two descriptions, each as ``path <saved> ..., <current> now``;
    a part that only one of them describes (benchmark, settings) is not compared."""
    shared = [key for key in saved if key in current]
    found: list[str] = []
    for key in shared:
        found += _differences(saved[key], current[key], key)
    return found


def summary(found: list[str]) -> str:
    """The first differences, and how many more there are."""
    more = len(found) - _SHOWN
    return "; ".join(found[:_SHOWN]) + (f"; and {more} more" if more > 0 else "")


def _model(model: nn.Module) -> dict[str, Any]:
    """The model's class, the ``repr`` of each leaf layer and the shape of each parameter."""
    return {
        "class": _name(type(model)),
        "layers": {
            name or "(root)": repr(module)
            for name, module in model.named_modules()
            if not any(True for _ in module.children())
        },
        "parameters": {name: list(p.shape) for name, p in model.named_parameters()},
    }


def _benchmark(benchmark: Any) -> dict[str, Any]:
    """Name, classes, input shape, and for each experience of each stream its classes,
    tasks, size and a digest of its data (so a reshuffled or permuted stream differs)."""
    streams = getattr(benchmark, "streams", None)
    streams = streams if isinstance(streams, Mapping) else {}
    return {
        "name": getattr(benchmark, "name", None),
        "classes": getattr(benchmark, "n_classes", None),
        "input_shape": _value(getattr(benchmark, "input_shape", None), frozenset(), 0),
        **{name: [_experience(e) for e in stream] for name, stream in streams.items()},
    }


def _experience(experience: Any) -> dict[str, Any]:
    dataset = experience.dataset
    return {
        "classes": [int(c) for c in getattr(experience, "classes_in_this_experience", ())],
        "tasks": [int(t) for t in getattr(experience, "task_labels", ())],
        "samples": len(dataset),
        "data": _digest(dataset),
    }


def _digest(dataset: Any) -> str | None:
    """A digest of the dataset's tensors, or of its targets; ``None`` if it has neither."""
    parts = getattr(dataset, "tensors", None)
    if parts is None:
        targets = getattr(dataset, "targets", None)
        parts = (targets,) if targets is not None else ()
    return digest_of(parts) if len(parts) else None


def digest_of(value: Any) -> str:
    """A hash of plain data: tensors by dtype, shape and bytes, containers item by item,
    anything else by type and ``repr``. Equal data, equal digest."""
    digest = hashlib.blake2b(digest_size=16)
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if isinstance(value, Tensor):
        tensor = value.detach()
        tensor = tensor.to_dense() if tensor.layout != torch.strided else tensor
        flat = tensor.cpu().contiguous().reshape(-1)
        digest.update(f"tensor {flat.dtype} {tuple(value.shape)}:".encode())
        try:
            digest.update(flat.view(torch.uint8).numpy())  # the bytes themselves, no copy
        except (RuntimeError, TypeError):  # a dtype without a byte view (quantized ...)
            digest.update(repr(flat.tolist()).encode())
    elif isinstance(value, Mapping):
        digest.update(f"dict {len(value)}:".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__} {len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"{type(value).__name__} {value!r};".encode())


def _optimizer(optimizer: Any) -> dict[str, Any] | None:
    if optimizer is None:
        return None
    groups = [
        {key: _value(v, frozenset(), 0) for key, v in group.items() if key != "params"}
        | {"parameters": len(group["params"])}
        for group in getattr(optimizer, "param_groups", [])
    ]
    head: dict[str, Any] = {"class": _name(type(optimizer))}
    return head | groups[0] if len(groups) == 1 else head | {"groups": groups}


def _component(
    component: Any, seen: frozenset[int], depth: int, *, holdings: bool = True
) -> dict[str, Any]:
    """The class and, read back from its attributes, its constructor parameters; with
    ``holdings``, also its other attributes (a plugin that turns ``mem_size`` into
    ``self.memory = Buffer(mem_size)`` is described by the buffer's ``max_size``)."""
    described: dict[str, Any] = {"class": _name(type(component))}
    if id(component) in seen or depth > _DEPTH:
        return described
    seen = seen | {id(component)}
    klass: type = type(component)
    for name in _parameters(klass):
        for attribute in (name, f"_{name}"):
            try:
                value = getattr(component, attribute)
            except Exception:  # absent, or a property that cannot answer now
                continue
            described[name] = _value(value, seen, depth + 1)
            break
    if holdings and not isinstance(component, nn.Module):
        for name, value in sorted(getattr(component, "__dict__", {}).items()):
            if name not in _IGNORED and name.lstrip("_") not in described:
                described[name] = _value(value, seen, depth + 1)
    return described


@functools.cache
def _parameters(cls: type) -> tuple[str, ...]:
    """Named constructor parameters of ``cls`` and of the classes it extends."""
    names: dict[str, None] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            signature = inspect.signature(init)
        except (TypeError, ValueError):
            continue
        for parameter in signature.parameters.values():
            variadic = parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
            if not variadic and parameter.name not in _IGNORED:
                names.setdefault(parameter.name)
    return tuple(names)


def _value(value: Any, seen: frozenset[int], depth: int) -> Any:
    """``value`` as plain data that compares equal exactly when the settings are equal."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, enum.Enum):
        return f"{_name(type(value))}.{value.name}"
    if isinstance(value, (torch.dtype, torch.device, PurePath)):
        return str(value)
    if isinstance(value, (Tensor, np.ndarray)):
        return {"tensor": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, (list, tuple)):
        return [_value(item, seen, depth) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted(repr(_value(item, seen, depth)) for item in value)
    if isinstance(value, Mapping):
        return {str(key): _value(item, seen, depth) for key, item in value.items()}
    if isinstance(value, functools.partial):
        keywords = {key: _value(item, seen, depth) for key, item in value.keywords.items()}
        return {"function": _name(value.func), **keywords}
    if inspect.isroutine(value) or inspect.isclass(value):
        return {"function": _name(value)}
    return _component(value, seen, depth)


def _name(thing: Any) -> str:
    module = getattr(thing, "__module__", None) or ""
    name = str(getattr(thing, "__qualname__", None) or getattr(thing, "__name__", repr(thing)))
    return f"{module}.{name}" if module else name


def _differences(saved: Any, current: Any, path: str) -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        if "class" in saved and saved.get("class") != current.get("class"):
            return [f"{path} is {saved.get('class')} in the checkpoint, {current.get('class')} now"]
        found: list[str] = []
        for key in [*saved, *(key for key in current if key not in saved)]:
            where = f"{path}.{key}"
            if key not in current:
                found.append(f"{where} {_show(saved[key])} in the checkpoint, not set now")
            elif key not in saved:
                found.append(f"{where} not set in the checkpoint, {_show(current[key])} now")
            else:
                found += _differences(saved[key], current[key], where)
        return found
    if _nested(saved) and _nested(current):
        if len(saved) != len(current):
            return [f"{path} has {len(saved)} entries in the checkpoint, {len(current)} now"]
        return [
            line
            for index, (a, b) in enumerate(zip(saved, current, strict=True))
            for line in _differences(a, b, f"{path}[{index}]")
        ]
    if _equal(saved, current):
        return []
    return [f"{path} {_show(saved)} in the checkpoint, {_show(current)} now"]


def _nested(value: Any) -> bool:
    """A list of parts compared one by one (a list of plain values is one value)."""
    return isinstance(value, list) and any(isinstance(item, (list, dict)) for item in value)


def _equal(saved: Any, current: Any) -> bool:
    """Plain values compare with ``==``; whatever else a damaged file holds is unequal."""
    if isinstance(saved, list) and isinstance(current, list):
        return len(saved) == len(current) and all(map(_equal, saved, current))
    plain = (bool, int, float, str, type(None))
    if not isinstance(saved, plain) or not isinstance(current, plain):
        return False
    return bool(saved == current)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
