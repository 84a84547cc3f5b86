"""GSS_greedyPlugin: replay from a memory that keeps gradient-diverse samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import TensorData
from clhost.distributed import all_gather_rows, rank_part, world_size
from clhost.errors import ParameterError
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import first_sight
from clhost.validate import boolean, positive_int
from clhost_gss.memory import GradientDiverseMemory


class GSS_greedyPlugin(SupervisedPlugin):
    """GSS-greedy (Aljundi et al., 2019, "Gradient based sample selection for online
    continual learning").

    Each incoming minibatch is offered to a ``GradientDiverseMemory`` of ``mem_size``
    samples, scored against ``mem_strength`` random stored samples, on its first sight
    (``strategy.train_pass == 0`` in the online template, the first epoch of an
    experience otherwise: as in the paper's stream, each sample has one chance to
    enter; ``offer_each_epoch=True`` offers it again in every epoch, as Avalanche's
    GSS_greedy does), before the update. It is
    trained together with ``batch_size_mem`` samples drawn uniformly from the memory
    beforehand (as many as the incoming minibatch when ``None``): from the live memory, as
    in the paper, or with ``replay_snapshot=True`` from a copy of the memory taken when the
    experience began, so that only earlier experiences are replayed (Avalanche's
    GSS_greedy replays that way). ``input_size`` is the
    shape of one sample: the storage is allocated for it at once (otherwise on the first
    minibatch) and samples of another shape are refused. Minibatches are reduced to
    ``(x, y, t)`` when replayed samples join them.

    Under DDP every rank offers the whole incoming minibatch (gathered from the ranks) to
    its memory, and joins its part of the replayed samples to its part of the minibatch:
    with ranks seeded alike (``clhost run`` seeds them) the memory is one process's.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "gss-greedy"
    distributed = "replicated"  # every rank offers the global minibatch to its memory
    state_components = ("memory",)

    def __init__(
        self,
        mem_size: int = 200,
        mem_strength: int = 5,
        input_size: tuple[int, ...] | None = None,
        batch_size_mem: int | None = None,
        replay_snapshot: bool = False,
        offer_each_epoch: bool = False,
    ):
        self.mem_size = positive_int("mem_size", mem_size)
        self.mem_strength = positive_int("mem_strength", mem_strength)
        self.replay_snapshot = boolean("replay_snapshot", replay_snapshot)
        self.offer_each_epoch = boolean("offer_each_epoch", offer_each_epoch)
        self.batch_size_mem = (
            None if batch_size_mem is None else positive_int("batch_size_mem", batch_size_mem)
        )
        self.input_size = _shape(input_size)
        self.memory = GradientDiverseMemory(mem_size, mem_strength, self.input_size)
        self._snapshot: TensorData | None = None

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        if self.replay_snapshot and getattr(strategy, "boundaries_known", True) is False:
            raise ParameterError(
                "replay_snapshot replays the memory as each experience began, but with "
                "boundaries_known=False the whole stream is one experience and nothing "
                "would ever be replayed; use replay_snapshot=False"
            )
        if self.replay_snapshot:
            data = self.memory.data
            self._snapshot = data.subset(torch.arange(len(data))) if len(data) else None

    @hookimpl
    def clhost_before_training_iteration(self, strategy: Any) -> None:
        x, y, t = strategy.mbatch[:3]
        incoming = [all_gather_rows(tensor) for tensor in (x, y, t)]  # the global minibatch
        replay = self._replay(self.batch_size_mem or len(incoming[1]))
        if _first_sight(strategy, self.offer_each_epoch):
            self.memory.offer(strategy.model, *incoming)
        if replay is not None and world_size() > 1:  # this rank's part of the replay
            replay = replay.subset(rank_part(torch.arange(len(replay))))
        if replay is not None:
            strategy.mbatch = tuple(
                torch.cat((mine, stored.to(mine.device, mine.dtype)))
                for mine, stored in zip((x, y, t), replay.tensors, strict=False)
            )

    def _replay(self, size: int) -> TensorData | None:
        if self.replay_snapshot:
            source = self._snapshot
            return None if source is None else source.subset(torch.randperm(len(source))[:size])
        return self.memory.sample(size) if len(self.memory) else None


def _first_sight(strategy: Any, each_epoch: bool) -> bool:
    """Whether the current minibatch is seen for the first time: later epochs go over an
    experience's samples again (unless ``each_epoch`` counts every epoch as new), later
    passes of the online template over the minibatch."""
    if each_epoch:
        return getattr(strategy, "train_pass", 0) == 0
    return first_sight(strategy)


def _shape(input_size: Any) -> tuple[int, ...] | None:
    if input_size is None:
        return None
    shape = (input_size,) if isinstance(input_size, int) else input_size
    if not isinstance(shape, Sequence) or not shape:
        raise ParameterError(f"input_size must be a tuple of positive integers, got {input_size!r}")
    return tuple(positive_int("input_size", d) for d in shape)
