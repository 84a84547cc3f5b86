"""GDumb: train a fresh model on a greedily balanced memory, and nothing else."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, TRAINING_DATA, Capabilities
from clhost.models import reinitialise, snapshot_weights
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal.buffers import check_size
from clhost_gdumb.buffer import GreedyClassBalancedBuffer


class GDumbPlugin(SupervisedPlugin):
    """Before each experience: add its samples to the greedy memory, put the model back
    to its initial weights, and make the memory the only training data.

    The stream is only used to fill the memory, which is why GDumb is the "dumb"
    baseline of Prabhu, Torr & Dokania (ECCV 2020) that many methods fail to beat.
    """

    capabilities = Capabilities(
        provides={TRAINING_DATA, REHEARSAL},
        conflicts={
            TRAINING_DATA: "GDumb trains on its greedy memory alone",
            REHEARSAL: "GDumb's memory is all it trains on; rehearsing another memory is "
            "no longer GDumb",
        },
    )

    def __init__(self, mem_size: int = 200):
        self.buffer = GreedyClassBalancedBuffer(check_size("mem_size", mem_size))
        self.initial: dict[str, Tensor] | None = None

    @hookimpl
    def clhost_after_train_dataset_adaptation(self, strategy: Any) -> None:
        self.buffer.update(strategy)
        strategy.adapted_dataset = self.buffer.buffer

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        if self.initial is None:
            self.initial = snapshot_weights(strategy.model)
            return
        reinitialise(strategy.model, self.initial)
        strategy.optimizer.state.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state_dict(), "initial": self.initial}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer.load_state_dict(state["buffer"])
        self.initial = None if state["initial"] is None else dict(state["initial"])
