"""Synaptic Intelligence as a plugin: importances from each parameter's path integral."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from clhost import hookimpl, validate
from clhost.errors import ParameterError
from clhost.importance import (
    ParamTensors,
    PathIntegral,
    check_exclusions,
    detached_copy,
    fit_all,
    named_trainables,
)
from clhost.penalty import AnchorSets, QuadraticPenaltyPlugin


class SynapticIntelligencePlugin(QuadraticPenaltyPlugin):
    """Synaptic Intelligence (Zenke, Poole & Ganguli, 2017).

    During an experience every optimizer step adds ``-g * delta_theta`` to each
    parameter's path integral ``w``, with ``g`` the gradient of the task loss before the
    step (the surrogate's own gradient is taken out) and ``delta_theta`` the step itself.
    When the experience ends, ``w / (delta^2 + eps)`` is added to the importance
    ``omega``, where ``delta`` is how far the parameter moved over the whole experience.
    Later experiences add the surrogate loss term ``"si"``:
    ``si_lambda * sum_i omega_i (theta_i - theta*_i)^2`` with ``theta*`` the parameters at
    the end of the previous experience.

    ``eps`` is the paper's damping ``xi`` (1e-3, its value for split MNIST): it bounds
    ``omega`` by ``w / xi`` for a parameter that wandered but ended where it started.
    ``max_importance`` (off by default, as in the paper) also caps ``omega``, the design
    of Avalanche's SI (which caps at 1e-3). ``sgd_weight_cap`` (on by default) further
    limits each penalty weight to what a plain SGD step can follow
    (``clhost.penalty.QuadraticPenaltyPlugin``), so a stiff surrogate holds a parameter in
    place instead of diverging.

    One deviation, for safety: a negative contribution (a parameter whose moves raised the
    task loss on balance, e.g. dragged by the surrogate) is counted as zero, since a
    negative importance would reward drifting away and leave the loss unbounded below
    (the authors' code clamps the accumulated sum at zero instead).

    ``excluded_parameters`` are parameter names or module prefixes left out entirely.
    Units and heads a growing model adds get importance from the experience that trains
    them and are not penalised before.
    """

    state_key = "synaptic-intelligence"
    distributed = "replicated"  # from averaged gradients
    term_name = "si"
    state_tensors = ("anchors", "omega")

    def __init__(
        self,
        si_lambda: float = 0.1,
        eps: float = 1e-3,
        excluded_parameters: tuple[str, ...] = (),
        max_importance: float | None = None,
        *,
        sgd_weight_cap: bool = True,
    ):
        super().__init__(sgd_weight_cap=sgd_weight_cap)
        self.si_lambda = validate.number("si_lambda", si_lambda, low=0.0)
        self.eps = validate.number("eps", eps, low=0.0, low_open=True)
        self.max_importance = (
            None
            if max_importance is None
            else validate.number("max_importance", max_importance, low=0.0, low_open=True)
        )
        self.excluded_parameters = _names_tuple(excluded_parameters)
        self.anchors: ParamTensors = {}
        self.omega: ParamTensors = {}
        self._path = PathIntegral({})  # one per experience; empty between experiences
        self._start: ParamTensors = {}

    def penalty_scale(self) -> float:
        return self.si_lambda

    def anchor_sets(self) -> AnchorSets:
        return [(self.anchors, self.omega)]

    def penalised_parameters(self, model: nn.Module) -> dict[str, nn.Parameter]:
        check_exclusions(model, self.excluded_parameters)
        return named_trainables(model, self.excluded_parameters)

    def start_experience(self, strategy: Any, params: dict[str, nn.Parameter]) -> None:
        self._path = PathIntegral(params)
        self._start = detached_copy(params)

    @hookimpl
    def clhost_after_backward(self, strategy: Any) -> None:
        self._path.record_gradient(self._penalty)

    @hookimpl
    def clhost_after_update(self, strategy: Any) -> None:
        self._path.record_step()

    @torch.no_grad()
    def consolidate(self, strategy: Any) -> None:
        params = self._path.params
        omega = fit_all(self.omega, params)
        for name, param in params.items():
            moved = param - self._start[name]
            contribution = self._path.total[name] / (moved * moved + self.eps)
            omega[name].add_(contribution.clamp_(min=0))
            if self.max_importance is not None:
                omega[name].clamp_(max=self.max_importance)
        self.omega, self.anchors = omega, detached_copy(params)
        self._path, self._start = PathIntegral({}), {}


def _names_tuple(names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise ParameterError(f"excluded_parameters must be a tuple of names, got {names!r}")
    return tuple(names)
