"""FromScratchTrainingPlugin: forget everything on purpose before each experience."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from clhost import hookimpl, validate
from clhost.importance import require_keys
from clhost.models import reinitialise, snapshot_weights
from clhost.plugin import SupervisedPlugin


class FromScratchTrainingPlugin(SupervisedPlugin):
    """Before every experience, put the model back to its initial weights and, with
    ``reset_optimizer``, empty the optimizer's state (momentum, Adam moments, steps).

    The initial weights are those the model has when the first experience starts. A
    module that did not exist then, or whose shape changed since (a classifier that grew
    to new classes), is re-initialised with its own ``reset_parameters()``. Parameters
    are overwritten in place, so the optimizer keeps pointing at them.
    """

    state_key = "from-scratch"
    distributed = "replicated"  # rank 0's initial weights (DDP broadcasts them)

    def __init__(self, *, reset_optimizer: bool = True):
        self.reset_optimizer = validate.boolean("reset_optimizer", reset_optimizer)
        self.initial: dict[str, Tensor] | None = None

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        if self.initial is None:
            self.initial = snapshot_weights(strategy.model)
            return
        reinitialise(strategy.model, self.initial)
        if self.reset_optimizer:
            strategy.optimizer.state.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"initial": None if self.initial is None else dict(self.initial)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        require_keys(state, ("initial",), "FromScratchTrainingPlugin")
        initial = state["initial"]
        self.initial = None if initial is None else dict(initial)
