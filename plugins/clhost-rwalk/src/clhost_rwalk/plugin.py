"""RWalk as a plugin: an online Fisher plus path scores measured in the Fisher's metric."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from clhost import hookimpl, validate
from clhost.importance import ParamTensors, PathIntegral, detached_copy, fit_all
from clhost.penalty import AnchorSets, QuadraticPenaltyPlugin

SCORE_EPS = 1e-3
"""Added to a score's denominator: keeps parameters that barely moved from dominating."""


class RWalkPlugin(QuadraticPenaltyPlugin):
    """Riemannian Walk (Chaudhry, Dokania, Ajanthan & Torr, 2018).

    Two importances, both estimated while training:

    - EWC++: an online empirical Fisher, after every step
      ``F = ewc_alpha * g^2 + (1 - ewc_alpha) * F`` with ``g`` the task-loss gradient of
      the minibatch (the penalty's own gradient taken out). It carries over experiences.
    - Scores: every ``delta_t`` steps, the path integral of the interval (the sum of
      ``-g * delta_theta`` over its steps) divided by the Fisher-weighted distance the
      parameter travelled in it, ``F * delta^2 / 2 + eps``; negative scores count as
      zero. After an experience its summed score is averaged with the previous one.

    Later experiences add the loss term ``"rwalk"``:
    ``ewc_lambda * sum_i (F_i + s_i) (theta_i - theta*_i)^2``, with ``F`` and ``s`` taken at
    the end of the previous experience and each min-max normalised to [0, 1] over all
    parameters so that neither swamps the other, and ``theta*`` the parameters then.
    Units and heads a growing model adds are not penalised until an experience trains them.
    ``sgd_weight_cap`` (on by default) caps each weight at what a plain SGD step can follow
    (``clhost.penalty.QuadraticPenaltyPlugin``).
    """

    state_key = "rwalk"
    distributed = "replicated"  # from averaged gradients
    term_name = "rwalk"
    state_tensors = ("anchors", "fisher", "scores", "running_fisher")

    def __init__(
        self,
        ewc_lambda: float = 0.1,
        ewc_alpha: float = 0.9,
        delta_t: int = 10,
        *,
        sgd_weight_cap: bool = True,
    ):
        super().__init__(sgd_weight_cap=sgd_weight_cap)
        self.ewc_lambda = validate.number("ewc_lambda", ewc_lambda, low=0.0)
        self.ewc_alpha = validate.number("ewc_alpha", ewc_alpha, low=0.0, high=1.0, low_open=True)
        self.delta_t = validate.positive_int("delta_t", delta_t)
        self.anchors: ParamTensors = {}
        self.fisher: ParamTensors = {}  # the online Fisher when the anchors were stored
        self.scores: ParamTensors = {}
        self.running_fisher: ParamTensors = {}
        self._path = PathIntegral({})  # one per experience; empty between experiences
        self._fisher_update: tuple[list[Tensor], list[Tensor]] = ([], [])
        self._interval_start: ParamTensors = {}
        self._experience_scores: ParamTensors = {}
        self._steps = 0

    def penalty_scale(self) -> float:
        return self.ewc_lambda

    def anchor_sets(self) -> AnchorSets:
        weights = _normalised(self.fisher)
        for name, score in _normalised(self.scores).items():
            weights[name].add_(score)
        return [(self.anchors, weights)]

    def start_experience(self, strategy: Any, params: dict[str, nn.Parameter]) -> None:
        self.running_fisher = fit_all(self.running_fisher, params)
        self._path = PathIntegral(params)
        self._fisher_update = (
            list(self.running_fisher.values()),
            list(self._path.gradient.values()),
        )
        self._interval_start = detached_copy(params)
        self._experience_scores = fit_all({}, params)
        self._steps = 0

    @hookimpl
    def clhost_after_backward(self, strategy: Any) -> None:
        self._path.record_gradient(self._penalty)

    @hookimpl
    @torch.no_grad()
    def clhost_after_update(self, strategy: Any) -> None:
        self._path.record_step()
        fisher, gradient = self._fisher_update
        torch._foreach_mul_(fisher, 1 - self.ewc_alpha)
        torch._foreach_addcmul_(fisher, gradient, gradient, value=self.ewc_alpha)
        self._steps += 1
        if self._steps % self.delta_t == 0:
            self._close_interval()

    @torch.no_grad()
    def _close_interval(self) -> None:
        for name, param in self._path.params.items():
            moved = param - self._interval_start[name]
            distance = 0.5 * self.running_fisher[name] * moved * moved + SCORE_EPS
            self._experience_scores[name].add_((self._path.total[name] / distance).clamp_(min=0))
            self._interval_start[name].copy_(param)
        self._path.reset()

    def consolidate(self, strategy: Any) -> None:
        if self._steps % self.delta_t:
            self._close_interval()
        params = self._path.params
        scores = self._experience_scores
        if self.scores:
            for name, previous in fit_all(self.scores, params).items():
                scores[name].add_(previous).mul_(0.5)
        self.scores, self.fisher = scores, detached_copy(self.running_fisher)
        self.anchors = detached_copy(params)
        self._path, self._interval_start, self._experience_scores = PathIntegral({}), {}, {}
        self._fisher_update = ([], [])


def _normalised(tensors: ParamTensors) -> ParamTensors:
    """Each tensor min-max scaled with the minimum and maximum over all of them."""
    if not tensors:
        return {}
    values = list(tensors.values())
    low = torch.stack([value.min() for value in values]).min()
    high = torch.stack([value.max() for value in values]).max()
    span = (high - low).clamp(min=torch.finfo(values[0].dtype).tiny)
    return {name: (value - low) / span for name, value in tensors.items()}
