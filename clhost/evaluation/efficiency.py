"""What training costs: time, memory, state size, model size and passes per sample.

The evaluator runs a ``CostMeter`` around each training experience; ``efficiency``
turns its counts and the strategy at the end of a run into the record every
``RunResults`` carries. Definitions: ``docs/metrics.md`` ("Efficiency").
"""

from __future__ import annotations

import math
import sys
import time
import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

# the record's fields that differ between two identical runs (clocks and memory peaks)
MEASURED = (
    "train_seconds",
    "train_cpu_seconds",
    "peak_host_memory_bytes",
    "peak_device_memory_bytes",
)


class CostMeter:
    """Counts, while an experience trains, the samples that go forward through the
    trained model and those its output passes a gradient back for, the wall time and the
    process's CPU time; evaluations in the middle of the experience are left out of all
    of them (``pause``).

    Counting uses forward hooks on the model and, on outputs that need a gradient, a
    tensor hook: nothing in the computation changes. A copy of the model taken while
    training (a teacher, a snapshot) carries the hooks but is not counted. A template
    whose training runs the model other than by calling it reports its passes with
    ``count_pass``.
    """

    def __init__(self) -> None:
        self._model: torch.nn.Module | None = None
        self._handles: list[Any] = []
        self._paused = False
        self._depth = 0  # calls of the model under way: a pass reported inside is theirs
        self._clocks = (0.0, 0.0)  # wall and CPU time counted so far
        self._since = _now()  # when counting last resumed
        self.forward = 0
        self.backward = 0

    def start(self, model: Any) -> None:
        """Count from now on, for ``model``."""
        self.stop()
        self.forward = self.backward = 0
        self._paused = False
        self._depth = 0
        if isinstance(model, torch.nn.Module):
            self._model = model
            self._handles = [
                model.register_forward_pre_hook(_entering(self)),
                model.register_forward_hook(_counter(self), always_call=True),
            ]
            _METERS.add(self)
        self._clocks, self._since = (0.0, 0.0), _now()

    def pause(self, paused: bool) -> None:
        """Stop (``True``) or go on (``False``) counting passes and time."""
        if paused and not self._paused:
            self._clocks = _plus(self._clocks, _now(), self._since)
        elif self._paused and not paused:
            self._since = _now()
        self._paused = paused

    def counting(self, module: torch.nn.Module) -> bool:
        return module is self._model and not self._paused

    def count(self, output: Any) -> None:
        """Count ``output``'s samples as one forward pass, and as one backward pass once
        a gradient flows back through it."""
        tensor = _first_tensor(output)
        if tensor is None:
            return
        samples = tensor.shape[0] if tensor.dim() else 1
        self.forward += samples
        if tensor.requires_grad:

            def count_backward(gradient: Tensor) -> None:
                self.backward += samples

            tensor.register_hook(count_backward)

    def stop(self, experience_samples: int = 0) -> dict[str, float]:
        """Stop counting; the counts of the experience, ``experience_samples`` long."""
        for handle in self._handles:
            handle.remove()
        self._handles, self._model = [], None
        _METERS.discard(self)
        self.pause(True)
        seconds, cpu_seconds = self._clocks
        return {
            "experience_samples": experience_samples,
            "forward_samples": self.forward,
            "backward_samples": self.backward,
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
        }


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _plus(
    clocks: tuple[float, float], now: tuple[float, float], since: tuple[float, float]
) -> tuple[float, float]:
    return clocks[0] + now[0] - since[0], clocks[1] + now[1] - since[1]


_METERS: weakref.WeakSet[CostMeter] = weakref.WeakSet()  # the meters counting now


def count_pass(model: torch.nn.Module, output: Any) -> Any:
    """Report ``output`` as a pass of ``model`` over a minibatch of training samples made
    without calling ``model`` (a frozen backbone's features read by a template that then
    fits a classifier): the meters counting ``model`` count it as they count a call.
    Inside a call of ``model`` it is part of that call and not counted again. Returns
    ``output``."""
    for meter in list(_METERS):
        if meter.counting(model) and not meter._depth:
            meter.count(output)
    return output


def _entering(meter: CostMeter) -> Any:
    """The forward pre-hook: a call of the model is under way (plain functions, so that
    a deep copy of the model shares them rather than copying the meter)."""

    def enter(module: torch.nn.Module, args: Any) -> None:
        if module is meter._model:
            meter._depth += 1

    return enter


def _counter(meter: CostMeter) -> Any:
    """The forward hook: a call of the model ends; its output is counted."""

    def count(module: torch.nn.Module, args: Any, output: Any) -> None:
        if module is meter._model:
            meter._depth -= 1
        if meter.counting(module):
            meter.count(output)

    return count


def _first_tensor(output: Any) -> Tensor | None:
    if isinstance(output, Tensor):
        return output
    values = output.values() if isinstance(output, dict) else output
    if isinstance(values, (list, tuple)) or isinstance(output, dict):
        return next((found for v in values if (found := _first_tensor(v)) is not None), None)
    return None


def efficiency(strategy: Any, costs: Sequence[dict[str, float]], seconds: float) -> dict[str, Any]:
    """The efficiency record of a run: ``costs`` are the evaluator's per-experience counts,
    ``seconds`` its training wall time; sizes are read from ``strategy`` now."""
    trained = sum(entry["experience_samples"] for entry in costs)
    model = strategy.model
    device_peak = None
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if device.type == "cuda":
        device_peak = torch.cuda.max_memory_allocated(device)
    return {
        "train_seconds": seconds,
        "train_cpu_seconds": math.fsum(entry["cpu_seconds"] for entry in costs),
        "peak_host_memory_bytes": peak_host_memory(),
        "peak_device_memory_bytes": device_peak,
        "buffer_bytes": state_bytes(strategy.stateful_components().values()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "forward_passes_per_sample": _per(costs, "forward_samples", trained),
        "backward_passes_per_sample": _per(costs, "backward_samples", trained),
    }


def _per(costs: Sequence[dict[str, float]], key: str, trained: float) -> float:
    return math.fsum(entry[key] for entry in costs) / trained if trained else math.nan


def peak_host_memory() -> int | None:
    """The process's peak resident memory in bytes (``ru_maxrss``); ``None`` where the
    ``resource`` module is missing (Windows)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes; else KiB


def state_bytes(components: Any) -> int:
    """Bytes of every tensor in the states of ``components`` (replay memories,
    importance weights, stored models ...)."""
    return sum(_tensor_bytes(component.state_dict()) for component in components)


def _tensor_bytes(value: Any) -> int:
    if isinstance(value, Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(item) for item in value)
    return 0
