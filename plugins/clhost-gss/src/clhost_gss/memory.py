"""A fixed-size memory that admits samples whose gradients disagree with what it holds."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from clhost.data import TensorData
from clhost.errors import CheckpointError, ParameterError
from clhost_gss.gradients import per_sample_gradients


class GradientDiverseMemory:
    """GSS-greedy's memory (Aljundi et al., 2019, Algorithm 2).

    Every offered sample is scored by ``c = 1 + max cos(g, G_i)``: its gradient ``g``
    against the gradients ``G`` of ``mem_strength`` random stored samples (``c = 1``
    when the memory is empty). While the memory has room the sample is stored with its
    score. Once full, a sample whose gradient points away from all of them (``c < 1``)
    picks a stored sample ``i`` with probability proportional to its score and takes
    its place with probability ``C_i / (C_i + c)``: redundant samples (high scores) make
    way for gradient-diverse ones, and a duplicate of a stored sample (``c = 2``) never
    enters. The samples of one minibatch are scored against the same random subset, and
    the stored samples they may replace are drawn together, from the scores as they were
    before the minibatch (a slot two of them drew is decided in turn).

    Storage is allocated once, for ``input_size`` when given (else the first samples'
    shape), on the device of the samples; the admission draws use torch's global CPU
    generator and the scores are read on the CPU once per minibatch.
    """

    def __init__(self, mem_size: int, mem_strength: int, input_size: tuple[int, ...] | None):
        self.mem_size, self.mem_strength = mem_size, mem_strength
        self.input_size = tuple(input_size) if input_size is not None else None
        self.scores = torch.zeros(mem_size, dtype=torch.float64)
        self.filled = 0
        self._x, self._allocated = torch.empty(0), False
        self._y = torch.zeros(mem_size, dtype=torch.long)
        self._t = torch.zeros(mem_size, dtype=torch.long)
        if self.input_size is not None:
            self._x, self._allocated = torch.zeros(mem_size, *self.input_size), True

    def __len__(self) -> int:
        return self.filled

    @property
    def data(self) -> TensorData:
        """The stored samples (views of the storage, in slot order)."""
        if not self._allocated:
            return TensorData(torch.empty(0), torch.empty(0, dtype=torch.long))
        n = self.filled
        return TensorData(self._x[:n], self._y[:n], self._t[:n])

    def sample(self, size: int) -> TensorData:
        """Up to ``size`` distinct stored samples drawn uniformly (copies)."""
        return self.data.subset(torch.randperm(self.filled)[:size])

    def offer(self, model: nn.Module, x: Tensor, y: Tensor, t: Tensor) -> None:
        """Score the samples ``(x, y, t)`` with ``model`` and admit them greedily."""
        self._allocate_like(x)
        scored = self.score(model, x, y, t)
        scores = scored.tolist()
        slots: dict[int, int] = {}  # slot -> index of the sample that ends up there
        room = min(self.mem_size - self.filled, len(scores))
        for index in range(room):
            slots[self.filled + index] = index
        self.scores[self.filled : self.filled + room] = scored[:room]
        self.filled += room
        candidates = [index for index in range(room, len(scores)) if scores[index] < 1]
        if candidates:
            victims, coins = self._victims(len(candidates)), torch.rand(len(candidates)).tolist()
            held = dict(zip(victims, self.scores[victims].tolist(), strict=True))
            for index, slot, coin in zip(candidates, victims, coins, strict=True):
                if coin * (held[slot] + scores[index]) < held[slot]:
                    slots[slot], held[slot] = index, scores[index]
            self.scores[list(held)] = torch.tensor(list(held.values()), dtype=torch.float64)
        if slots:
            where = torch.tensor(list(slots), device=x.device)
            which = torch.tensor(list(slots.values()), device=x.device)
            self._x[where] = x[which].to(self._x.dtype)
            self._y[where] = y[which]
            self._t[where] = t[which]

    def score(self, model: nn.Module, x: Tensor, y: Tensor, t: Tensor) -> Tensor:
        """``1 + max cos`` of each sample's gradient with a random stored subset's."""
        if self.filled == 0:
            return torch.ones(len(y), dtype=torch.float64)
        stored = self.sample(self.mem_strength)
        grads = per_sample_gradients(
            model, torch.cat((x, stored.x.to(x.dtype))), *_joined(y, t, stored)
        )
        incoming, reference = grads[: len(y)], grads[len(y) :]
        norms = incoming.norm(dim=1, keepdim=True) * reference.norm(dim=1)
        cosine = incoming @ reference.T / norms.clamp(min=torch.finfo(norms.dtype).tiny)
        return cosine.max(dim=1).values.double().cpu() + 1

    def _victims(self, count: int) -> list[int]:
        """``count`` stored slots, each drawn with probability proportional to its score
        (uniformly when every score is zero)."""
        if float(self.scores.sum()) > 0:
            return torch.multinomial(self.scores, count, replacement=True).tolist()
        return torch.randint(self.mem_size, (count,)).tolist()

    def _allocate_like(self, x: Tensor) -> None:
        shape = tuple(x.shape[1:])
        if self.input_size is not None and shape != self.input_size:
            raise ParameterError(f"input_size is {self.input_size} but samples have shape {shape}")
        if not self._allocated:
            self._x = torch.zeros(self.mem_size, *shape, dtype=x.dtype)
            self._allocated = True
        if self._x.device != x.device:
            self._x, self._y, self._t = (s.to(x.device) for s in (self._x, self._y, self._t))

    def state_dict(self) -> dict[str, Any]:
        data = self.data
        return {"x": data.x, "y": data.y, "t": data.t, "scores": self.scores[: self.filled]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            x, y, t, scores = state["x"], state["y"], state["t"], state["scores"]
        except (KeyError, TypeError) as error:
            raise CheckpointError(f"GSS memory state lacks {error}") from None
        n = len(y)
        if n > self.mem_size or not len(x) == len(t) == len(scores) == n:
            raise CheckpointError(
                f"GSS memory state holds {n} samples for mem_size {self.mem_size}"
            )
        self.filled = 0
        if n:
            self._allocate_like(x)
            self._x[:n], self._y[:n], self._t[:n] = x, y, t
        self.scores.zero_()
        self.scores[:n] = scores
        self.filled = n


def _joined(y: Tensor, t: Tensor, stored: TensorData) -> tuple[Tensor, Tensor]:
    return torch.cat((y, stored.y.to(y.device))), torch.cat((t, stored.t.to(t.device)))
