"""LwF as a training plugin: the Learning without Forgetting term added to any strategy."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from clhost import hookimpl
from clhost.plugin import SupervisedPlugin
from clhost_loss_lwf import LearningWithoutForgetting


class LwFPlugin(SupervisedPlugin):
    """Adds the Learning without Forgetting term to the loss of any supervised strategy.

    ``alpha`` weighs the distillation (one number, or one per experience) and
    ``temperature`` softens the outputs compared; see ``LearningWithoutForgetting``,
    which the plugin holds as ``lwf`` (as Avalanche's ``LwFPlugin`` does).
    """

    state_key = "lwf"
    distributed = "replicated"  # the previous model: the same on every rank

    def __init__(self, alpha: float | list[float] = 1.0, temperature: float = 2.0):
        self.lwf = LearningWithoutForgetting(alpha=alpha, temperature=temperature)

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        self.lwf.clhost_before_training(strategy)

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> tuple[str, Tensor]:
        return self.lwf.clhost_loss_terms(strategy)

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        self.lwf.clhost_after_training_exp(strategy)

    def state_dict(self) -> dict[str, Any]:
        return self.lwf.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lwf.load_state_dict(state)
