"""The counters Avalanche's clock has and clhost's does not, kept on ``strategy.clock``."""

from __future__ import annotations

from typing import Any

from clhost import hookimpl


class AvalancheCounters:
    """Sets ``strategy.clock.train_epoch_iterations`` (iterations of the running epoch)
    and ``total_iterations`` (training and evaluation iterations), counted after the
    user's plugins have seen each iteration, as Avalanche's clock counts after them."""

    name = "avalanche-counters"

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        strategy.clock.__dict__.setdefault("total_iterations", 0)
        strategy.clock.train_epoch_iterations = 0

    @hookimpl
    def clhost_before_training_epoch(self, strategy: Any) -> None:
        strategy.clock.train_epoch_iterations = 0

    @hookimpl
    def clhost_after_training_iteration(self, strategy: Any) -> None:
        strategy.clock.train_epoch_iterations += 1
        strategy.clock.total_iterations += 1

    @hookimpl
    def clhost_after_eval_iteration(self, strategy: Any) -> None:
        clock = strategy.clock
        clock.total_iterations = clock.__dict__.get("total_iterations", 0) + 1
