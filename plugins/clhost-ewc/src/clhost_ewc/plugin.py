"""EWC as a plugin: a Fisher-weighted pull towards the parameters past experiences ended at."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch.nn import functional

from clhost import validate
from clhost.data import experience_data
from clhost.errors import CheckpointError, ParameterError
from clhost.importance import (
    AnchorSums,
    ParamTensors,
    detached_copy,
    fit_all,
    gradient_importance,
    require_keys,
    tensors_from_state,
)
from clhost.penalty import AnchorSets, QuadraticPenaltyPlugin

MODES = ("separate", "online")


class EWCPlugin(QuadraticPenaltyPlugin):
    """Elastic Weight Consolidation (Kirkpatrick et al., 2017).

    After each experience the diagonal empirical Fisher of its log-likelihood is estimated
    (squared gradients of the cross-entropy of each minibatch of the experience, averaged
    over minibatches) and stored with a copy of the parameters. Later experiences add the
    loss term ``"ewc"``: ``ewc_lambda / 2 * sum_i F_i (theta_i - theta*_i)^2``.

    ``mode="separate"`` keeps one (parameters, Fisher) pair per past experience, as in the
    paper. ``mode="online"`` (Schwarz et al., 2018) keeps a single Fisher, decayed by
    ``decay_factor`` each time the next one is added, anchored at the latest parameters.
    ``keep_importance_data`` only matters online: it also keeps the consolidated Fisher and
    parameters of earlier experiences for inspection; the penalty always uses the latest.
    Separate mode always keeps every experience's pair (checkpoints hold them); its penalty
    is built from running sums over them (``AnchorSums``), updated once per experience, so
    neither a step nor the start of an experience costs more as the stream grows.

    ``sgd_weight_cap`` (on by default) caps each penalty weight at what a plain SGD step
    can follow (``clhost.penalty.QuadraticPenaltyPlugin``); it never affects other
    optimizers. Parameters that grew (incremental classifiers) are compared on the units
    they had when stored; units and heads added later are not penalised until an
    experience trains them.
    """

    state_key = "ewc"
    distributed = "replicated"  # the Fisher is all-reduced over ranks
    term_name = "ewc"

    def __init__(
        self,
        ewc_lambda: float = 1000.0,
        mode: Literal["separate", "online"] = "separate",
        decay_factor: float | None = None,
        keep_importance_data: bool = False,
        *,
        sgd_weight_cap: bool = True,
    ):
        super().__init__(sgd_weight_cap=sgd_weight_cap)
        self.ewc_lambda = validate.number("ewc_lambda", ewc_lambda, low=0.0)
        self.mode = validate.one_of("mode", mode, MODES)
        if mode == "online":
            if decay_factor is None:
                raise ParameterError("decay_factor is required with mode='online'")
            decay_factor = validate.number("decay_factor", decay_factor, low=0.0, high=1.0)
        elif decay_factor is not None:
            raise ParameterError("decay_factor applies only to mode='online'")
        self.decay_factor = decay_factor
        self.keep_importance_data = validate.boolean("keep_importance_data", keep_importance_data)
        self.saved_params: dict[int, ParamTensors] = {}
        self.importances: dict[int, ParamTensors] = {}
        self._sums = AnchorSums()  # separate mode only: online mode has a single set

    def penalised_experiences(self) -> list[int]:
        """The stored experiences the penalty pulls towards."""
        keys = sorted(self.importances)
        return keys if self.mode == "separate" else keys[-1:]

    def penalty_scale(self) -> float:
        return self.ewc_lambda / 2

    def anchor_sets(self) -> AnchorSets:
        if self.mode == "separate":
            return self._sums
        latest = self.penalised_experiences()
        return [(self.saved_params[key], self.importances[key]) for key in latest]

    def consolidate(self, strategy: Any) -> None:
        params = self.penalised_parameters(strategy.model)
        fisher = gradient_importance(
            strategy.model,
            params,
            experience_data(strategy.experience),
            objective=functional.cross_entropy,
            statistic=torch.square,
            batch_size=strategy.train_mb_size,
            device=strategy.device,
        )
        if self.mode == "online" and self.importances:
            previous = fit_all(self.importances[max(self.importances)], params)
            for name, value in fisher.items():
                value.add_(previous[name], alpha=self.decay_factor)
            if not self.keep_importance_data:
                self.saved_params.clear()
                self.importances.clear()
        key = strategy.clock.train_exp_counter
        self.saved_params[key] = detached_copy(params)
        self.importances[key] = fisher
        if self.mode == "separate":
            self._sums.add(self.saved_params[key], fisher)

    def state_dict(self) -> dict[str, Any]:
        keys = sorted(self.importances)
        return {
            "mode": self.mode,
            "experiences": keys,
            "saved_params": [detached_copy(self.saved_params[k]) for k in keys],
            "importances": [detached_copy(self.importances[k]) for k in keys],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        require_keys(state, ("mode", "experiences", "saved_params", "importances"), "EWCPlugin")
        if state["mode"] != self.mode:
            raise CheckpointError(
                f"EWCPlugin state is for mode={state['mode']!r}, not {self.mode!r}"
            )
        keys = [int(key) for key in state["experiences"]]
        if not len(keys) == len(state["saved_params"]) == len(state["importances"]):
            raise CheckpointError("EWCPlugin state has mismatched experience lists")
        self.saved_params = {
            key: tensors_from_state(params, "EWC saved parameters")
            for key, params in zip(keys, state["saved_params"], strict=True)
        }
        self.importances = {
            key: tensors_from_state(fisher, "EWC importances")
            for key, fisher in zip(keys, state["importances"], strict=True)
        }
        self._sums = AnchorSums(
            (self.saved_params[key], self.importances[key])
            for key in (self.penalised_experiences() if self.mode == "separate" else ())
        )
        self._penalty = None
