"""The plugin body every quadratic-penalty method shares (EWC, MAS, RWalk, SI, ...).

Such a method pulls each parameter towards stored anchors, weighted by importances, and
differs from the others only in how it estimates (and accumulates) the importances. The
base here owns the rest: building the penalty for the model as it is when an experience
starts (units and heads added since were never stored, so they are not pulled), adding it
as a named loss term, the state of named tensors a checkpoint holds, and the SGD weight
cap (``clhost.importance.sgd_weight_limits``), an explicit option of each method.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from clhost import validate
from clhost._markers import hookimpl
from clhost.importance import (
    AnchorSums,
    QuadraticPenalty,
    detached_copy,
    named_trainables,
    require_keys,
    tensors_from_state,
)
from clhost.plugin import SupervisedPlugin

AnchorSets = AnchorSums | Iterable[tuple[Mapping[str, Tensor], Mapping[str, Tensor]]]


class QuadraticPenaltyPlugin(SupervisedPlugin):
    """A plugin adding ``penalty_scale() * sum_k sum_i w_ki (theta_i - a_ki)^2`` as the loss
    term ``term_name`` from the start of each experience, over the (anchors, weights) sets
    ``anchor_sets()`` returns (none before the first ``consolidate``).

    Subclasses set ``term_name`` and ``state_tensors`` (the attributes, each a map from
    parameter names to tensors, that make up the state) and implement ``penalty_scale``,
    ``anchor_sets`` and ``consolidate`` (after an experience: estimate importances, store
    anchors); ``penalised_parameters`` and ``start_experience`` may be overridden. With
    ``sgd_weight_cap`` and a ``torch.optim.SGD`` optimizer each weight is capped at what a
    step can follow (``clhost.importance.sgd_weight_limits``), so a stiff penalty holds a
    parameter in place instead of diverging; other optimizers are never capped.
    """

    term_name: ClassVar[str]
    state_tensors: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, sgd_weight_cap: bool = True):
        self.sgd_weight_cap = validate.boolean("sgd_weight_cap", sgd_weight_cap)
        self._penalty: QuadraticPenalty | None = None

    def penalty_scale(self) -> float:
        """The factor in front of the weighted squared distances."""
        raise NotImplementedError

    def anchor_sets(self) -> AnchorSets:
        """The stored (anchors, weights) sets the penalty pulls towards."""
        raise NotImplementedError

    def consolidate(self, strategy: Any) -> None:
        """After an experience: update the importances and anchors ``anchor_sets`` gives."""
        raise NotImplementedError

    def penalised_parameters(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """The parameters the method stores and pulls: every trainable one by default."""
        return named_trainables(model)

    def start_experience(self, strategy: Any, params: dict[str, nn.Parameter]) -> None:
        """Before an experience, ahead of the penalty: set up what its steps accumulate."""

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        params = self.penalised_parameters(strategy.model)
        self.start_experience(strategy, params)
        penalty = QuadraticPenalty(
            params,
            self.anchor_sets(),
            scale=self.penalty_scale(),
            optimizer=strategy.optimizer if self.sgd_weight_cap else None,
        )
        self._penalty = penalty if len(penalty) else None

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> tuple[str, Tensor] | None:
        return None if self._penalty is None else (self.term_name, self._penalty())

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        self.consolidate(strategy)
        self._penalty = None

    def state_dict(self) -> dict[str, Any]:
        return {name: detached_copy(getattr(self, name)) for name in self.state_tensors}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        owner = type(self).__name__
        require_keys(state, self.state_tensors, owner)
        for name in self.state_tensors:
            setattr(self, name, tensors_from_state(state[name], f"{owner} {name}"))
        self._penalty = None
