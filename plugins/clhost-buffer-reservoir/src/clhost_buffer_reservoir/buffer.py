"""ReservoirSamplingBuffer: uniform sampling over a stream by random keys."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from clhost.data import TensorData
from clhost.errors import CheckpointError
from clhost.rehearsal import ExemplarsBuffer
from clhost.validate import non_negative_int


class ReservoirSamplingBuffer(ExemplarsBuffer):
    """Holds a uniform random sample of size ``max_size`` of every sample it was offered.

    Every sample draws an independent key from U(0, 1) when it arrives and the buffer keeps
    the ``max_size`` largest keys seen (Efraimidis & Spirakis's keyed form of reservoir
    sampling). Any fixed-size set of samples is then equally likely, however the stream is
    split into experiences, and shrinking keeps the largest keys, so it stays uniform.
    Once full, entering samples overwrite the slots of the samples they evict, in place,
    so an update costs the size of the batch, not of the memory (online replay updates
    after every minibatch). Keys come from torch's global generator.
    """

    state_key = "reservoir"

    def __init__(self, max_size: int):
        super().__init__(max_size)
        self._keys = torch.empty(0, dtype=torch.float64)

    @property
    def buffer(self) -> TensorData:
        return self._buffer

    @buffer.setter
    def buffer(self, data: TensorData) -> None:
        """Replace the samples held by the same samples with new values (e.g. extras)."""
        if not isinstance(data, TensorData) or len(data) != len(self._keys):
            raise ValueError(
                f"the new buffer must be TensorData of the {len(self._keys)} samples held"
            )
        self._buffer = data

    def add(self, strategy: Any, data: TensorData) -> None:
        if len(data) == 0 or self.max_size == 0:
            return
        keys = torch.rand(len(data), dtype=torch.float64)
        room = self.max_size - len(self._keys)
        if room > 0:  # free slots: the first samples enter without competing
            taken = torch.arange(min(room, len(data)))
            self._buffer = TensorData.concat([self._buffer, data.subset(taken)])
            self._keys = torch.cat((self._keys, keys[: len(taken)]))
            rest = torch.arange(len(taken), len(data))
            if len(rest) == 0:
                return
            data, keys = data.subset(rest), keys[rest]
        self._replace_smallest_keys(data, keys)

    def _replace_smallest_keys(self, data: TensorData, keys: Tensor) -> None:
        """Keep the ``max_size`` largest of held and new keys, writing entrants in place.

        Pairing the new keys in decreasing order with the smallest held keys in
        increasing order, a new key enters exactly while it beats its pair.
        """
        count = min(len(keys), len(self._keys))
        smallest, slots = self._keys.topk(count, largest=False)
        largest, entering = keys.topk(count)
        wins = largest > smallest
        if not bool(wins[0]):
            return
        slots, entering = slots[wins], entering[wins]
        self._keys[slots] = largest[wins]
        device = self._buffer.y.device
        slots, entering = slots.to(device), entering.to(device)
        for stored, new in zip(self._buffer.tensors, data.tensors, strict=True):
            stored[slots] = new[entering]

    def resize(self, strategy: Any, new_size: int) -> None:
        self.max_size = non_negative_int("new_size", new_size)
        if len(self._keys) > new_size:
            kept = self._keys.topk(new_size).indices
            self._keys = self._keys[kept]
            self._buffer = self._buffer.subset(kept)

    @property
    def keys(self) -> Tensor:
        """The key of each sample held, in buffer order."""
        return self._keys

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "keys": self._keys}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        keys = state.get("keys") if isinstance(state, dict) else None
        if not isinstance(keys, Tensor):
            raise CheckpointError("reservoir state lacks the keys of its samples")
        super().load_state_dict(state)
        if len(keys) != len(self._buffer):
            raise CheckpointError(f"{len(keys)} keys for {len(self._buffer)} stored samples")
        # Own copies: updates write into the stored tensors in place.
        self._buffer = self._buffer.subset(torch.arange(len(keys)))
        self._keys = keys.to(torch.float64).clone()
