"""MAS as a plugin: importances from how sensitive the model's output is to each parameter."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from clhost import validate
from clhost.data import experience_data
from clhost.importance import ParamTensors, detached_copy, fit_all, gradient_importance
from clhost.penalty import AnchorSets, QuadraticPenaltyPlugin


def squared_output_norm(output: Tensor, _targets: Tensor) -> Tensor:
    """Mean over the minibatch of ``||f(x)||_2^2``; labels play no part (MAS is unsupervised)."""
    return output.pow(2).sum(dim=1).mean()


class MASPlugin(QuadraticPenaltyPlugin):
    """Memory Aware Synapses (Aljundi, Babiloni, Elhoseiny, Rohrbach & Tuytelaars, 2018).

    After each experience, the importance of a parameter is the mean absolute gradient of
    the squared L2 norm of the model's output (its scores, before any softmax) over the
    experience's inputs, taken per minibatch. It is blended into the running importance as
    ``alpha * old + (1 - alpha) * new`` (the first experience's is taken as is). Later
    experiences add the loss term ``"mas"``:
    ``lambda_reg * sum_i omega_i (theta_i - theta*_i)^2`` with ``theta*`` the parameters at
    the end of the previous experience. Units and heads a growing model adds are not
    penalised until an experience has trained them. ``sgd_weight_cap`` (on by default)
    caps each weight at what a plain SGD step can follow: importances of the output layer
    grow with the scale of the outputs (``clhost.penalty.QuadraticPenaltyPlugin``).
    """

    state_key = "mas"
    distributed = "replicated"  # importance all-reduced over ranks
    term_name = "mas"
    state_tensors = ("anchors", "importance")

    def __init__(self, lambda_reg: float = 1.0, alpha: float = 0.5, *, sgd_weight_cap: bool = True):
        super().__init__(sgd_weight_cap=sgd_weight_cap)
        self.lambda_reg = validate.number("lambda_reg", lambda_reg, low=0.0)
        self.alpha = validate.number("alpha", alpha, low=0.0, high=1.0)
        self.anchors: ParamTensors = {}
        self.importance: ParamTensors = {}

    def penalty_scale(self) -> float:
        return self.lambda_reg

    def anchor_sets(self) -> AnchorSets:
        return [(self.anchors, self.importance)]

    def consolidate(self, strategy: Any) -> None:
        params = self.penalised_parameters(strategy.model)
        new = gradient_importance(
            strategy.model,
            params,
            experience_data(strategy.experience),
            objective=squared_output_norm,
            statistic=torch.abs,
            batch_size=strategy.train_mb_size,
            device=strategy.device,
        )
        if self.importance:
            old = fit_all(self.importance, params)
            for name, value in new.items():
                value.mul_(1 - self.alpha).add_(old[name], alpha=self.alpha)
        self.importance, self.anchors = new, detached_copy(params)
