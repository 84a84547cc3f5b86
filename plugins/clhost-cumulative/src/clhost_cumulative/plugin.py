"""CumulativePlugin: grow the training set with every experience instead of replacing it."""

from __future__ import annotations

from typing import Any

import torch

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, TRAINING_DATA, Capabilities
from clhost.data import TensorData
from clhost.errors import CheckpointError
from clhost.importance import require_keys
from clhost.plugin import SupervisedPlugin


class CumulativePlugin(SupervisedPlugin):
    """Replace each experience's training data by the union of every experience's so far.

    The union is kept as one ``TensorData`` when the experiences are tensor-backed (the
    fast path: one copy per experience, batched by slicing) and as a
    ``torch.utils.data.ConcatDataset`` otherwise. Only the experiences' own data is kept:
    the plugin takes the adapted dataset before any plugin listed after it changes it.
    """

    capabilities = Capabilities(
        provides={TRAINING_DATA},
        conflicts={
            TRAINING_DATA: "cumulative training trains on every experience seen so far",
            REHEARSAL: "cumulative training already trains on every past sample: rehearsing "
            "some of them again only reweights them",
        },
    )

    state_key = "cumulative"
    distributed = "replicated"  # the union of the experiences, the same on every rank

    def __init__(self) -> None:
        self.seen: Any = None

    @hookimpl
    def clhost_after_train_dataset_adaptation(self, strategy: Any) -> None:
        self.seen = _union(self.seen, strategy.adapted_dataset)
        strategy.adapted_dataset = self.seen

    def state_dict(self) -> dict[str, Any]:
        if self.seen is None:
            return {"seen": None}
        if not isinstance(self.seen, TensorData):
            raise CheckpointError(
                "CumulativePlugin can checkpoint tensor data only, but it holds "
                f"{type(self.seen).__name__}"
            )
        data = self.seen
        return {"seen": {"x": data.x, "y": data.y, "t": data.t, "extras": dict(data.extras)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        require_keys(state, ("seen",), "CumulativePlugin")
        seen = state["seen"]
        self.seen = None if seen is None else TensorData(**seen)


def _union(seen: Any, new: Any) -> Any:
    if seen is None:
        return new
    if isinstance(seen, TensorData) and isinstance(new, TensorData):
        return TensorData.concat([seen, new])
    return torch.utils.data.ConcatDataset([seen, new])
