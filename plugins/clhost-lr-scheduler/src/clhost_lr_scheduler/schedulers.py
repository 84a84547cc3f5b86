"""Common torch schedulers built by name, so the command line can ask for one."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch.optim import lr_scheduler

from clhost import validate
from clhost.errors import ParameterError, UnknownNameError

SchedulerName = Literal["step", "multistep", "exponential", "cosine", "plateau"]

# For each name: its options with their defaults (``None``: no default, the option must be
# given, except ``t_max``, which then follows the length of each experience).
SCHEDULERS: dict[str, dict[str, Any]] = {
    "step": {"step_size": None, "gamma": 0.1},
    "multistep": {"milestones": None, "gamma": 0.1},
    "exponential": {"gamma": None},
    "cosine": {"t_max": None, "eta_min": 0.0},
    "plateau": {"gamma": 0.1, "patience": 10},
}
OPTIONAL_WITHOUT_DEFAULT = {("cosine", "t_max")}


def scheduler_options(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The options of scheduler ``name``: the ``given`` ones (those not None) over the
    defaults. An option the scheduler does not take, or a missing required one, is an
    error naming it."""
    if name not in SCHEDULERS:
        raise UnknownNameError("scheduler", name, SCHEDULERS)
    options = SCHEDULERS[name]
    for option, value in given.items():
        if value is not None and option not in options:
            takes = ", ".join(options)
            raise ParameterError(
                f"{option} does not apply to scheduler={name!r} (it takes {takes})"
            )
    chosen = {o: given.get(o) if given.get(o) is not None else d for o, d in options.items()}
    for option, value in chosen.items():
        if value is not None:
            chosen[option] = _VALIDATORS[option](option, value)
        elif (name, option) not in OPTIONAL_WITHOUT_DEFAULT:
            raise ParameterError(f"scheduler={name!r} needs {option}")
    return chosen


def _milestones(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ParameterError(f"{name} must be increasing positive integers, got {value!r}")
    steps = tuple(validate.positive_int(name, step) for step in value)
    if list(steps) != sorted(set(steps)):
        raise ParameterError(f"{name} must be increasing positive integers, got {value!r}")
    return steps


_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "step_size": validate.positive_int,
    "t_max": validate.positive_int,
    "patience": validate.non_negative_int,
    "gamma": lambda name, value: validate.number(name, value, low=0.0, low_open=True),
    "eta_min": lambda name, value: validate.number(name, value, low=0.0),
    "milestones": _milestones,
}


def build_scheduler(
    name: str, optimizer: torch.optim.Optimizer, options: Mapping[str, Any], steps: int
) -> lr_scheduler.LRScheduler:
    """Scheduler ``name`` on ``optimizer``; ``steps`` is the cosine period when ``t_max``
    is not given."""
    if name == "step":
        return lr_scheduler.StepLR(optimizer, options["step_size"], options["gamma"])
    if name == "multistep":
        return lr_scheduler.MultiStepLR(optimizer, list(options["milestones"]), options["gamma"])
    if name == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, options["gamma"])
    if name == "cosine":
        period = options["t_max"] or steps
        return lr_scheduler.CosineAnnealingLR(optimizer, period, options["eta_min"])
    return lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=options["gamma"], patience=options["patience"]
    )
