"""Counters of the training loop, kept by a plugin that runs after all others."""

from __future__ import annotations

from typing import Any

from clhost._markers import hookimpl
from clhost.distributed import REPLICATED
from clhost.plugin import BasePlugin


class Clock(BasePlugin):
    """Counts experiences, epochs and iterations; plugins read it from ``strategy.clock``.

    It runs last, so during a hook every plugin sees the values before the step that is
    being completed is counted. Every rank counts the same steps (replicated).
    """

    distributed = REPLICATED

    train_exp_counter: int
    train_exp_epochs: int
    train_exp_iterations: int
    train_epochs: int
    train_iterations: int

    COUNTERS = (
        "train_exp_counter",
        "train_exp_epochs",
        "train_exp_iterations",
        "train_epochs",
        "train_iterations",
    )

    def __init__(self) -> None:
        for counter in self.COUNTERS:
            setattr(self, counter, 0)

    def tick_iteration(self) -> None:
        self.train_exp_iterations += 1
        self.train_iterations += 1

    def tick_epoch(self) -> None:
        self.train_exp_epochs += 1
        self.train_epochs += 1

    @hookimpl
    def clhost_before_training_exp(self) -> None:
        self.train_exp_epochs = 0
        self.train_exp_iterations = 0

    @hookimpl
    def clhost_after_training_exp(self) -> None:
        self.train_exp_counter += 1

    def state_dict(self) -> dict[str, Any]:
        return {counter: getattr(self, counter) for counter in self.COUNTERS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for counter in self.COUNTERS:
            setattr(self, counter, int(state[counter]))
