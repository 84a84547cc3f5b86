"""EWC as a plugin: a Fisher-weighted pull towards the parameters past experiences ended at."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor
from torch.nn import functional

from clhost import hookimpl, validate
from clhost.data import experience_data
from clhost.errors import CheckpointError, ParameterError
from clhost.importance import (
    AnchorSums,
    ParamTensors,
    QuadraticPenalty,
    detached_copy,
    fit_all,
    gradient_importance,
    named_trainables,
    require_keys,
    tensors_from_state,
)
from clhost.plugin import SupervisedPlugin

MODES = ("separate", "online")


class EWCPlugin(SupervisedPlugin):
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

    Parameters that grew (incremental classifiers) are compared on the units they had when
    stored; units and heads added later are not penalised until an experience trains them.
    """

    state_key = "ewc"

    def __init__(
        self,
        ewc_lambda: float = 1000.0,
        mode: Literal["separate", "online"] = "separate",
        decay_factor: float | None = None,
        keep_importance_data: bool = False,
    ):
        self.ewc_lambda = validate.number("ewc_lambda", ewc_lambda, low=0.0)
        if mode not in MODES:
            raise ParameterError(f"mode must be 'separate' or 'online', got {mode!r}")
        if mode == "online":
            if decay_factor is None:
                raise ParameterError("decay_factor is required with mode='online'")
            decay_factor = validate.number("decay_factor", decay_factor, low=0.0, high=1.0)
        elif decay_factor is not None:
            raise ParameterError("decay_factor applies only to mode='online'")
        if not isinstance(keep_importance_data, bool):
            raise ParameterError(
                f"keep_importance_data must be a bool, got {keep_importance_data!r}"
            )
        self.mode, self.decay_factor = mode, decay_factor
        self.keep_importance_data = keep_importance_data
        self.saved_params: dict[int, ParamTensors] = {}
        self.importances: dict[int, ParamTensors] = {}
        self._penalty: QuadraticPenalty | None = None
        self._sums = AnchorSums()

    def penalised_experiences(self) -> list[int]:
        """The stored experiences the penalty pulls towards."""
        keys = sorted(self.importances)
        return keys if self.mode == "separate" else keys[-1:]

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        params = named_trainables(strategy.model)
        penalty = QuadraticPenalty(
            params, self._sums, scale=self.ewc_lambda / 2, optimizer=strategy.optimizer
        )
        self._penalty = penalty if len(penalty) else None

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> tuple[str, Tensor] | None:
        return None if self._penalty is None else ("ewc", self._penalty())

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        params = named_trainables(strategy.model)
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
        if self.mode == "online":
            self._sums = AnchorSums()
        self._sums.add(self.saved_params[key], fisher)
        self._penalty = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "experiences": sorted(self.importances),
            "saved_params": [detached_copy(self.saved_params[k]) for k in sorted(self.importances)],
            "importances": [detached_copy(self.importances[k]) for k in sorted(self.importances)],
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
            (self.saved_params[key], self.importances[key]) for key in self.penalised_experiences()
        )
        self._penalty = None
