"""GDumb: train a fresh model on a greedily balanced memory, and nothing else."""

from __future__ import annotations

from typing import Any, Literal, get_args

import torch

from clhost import distributed, hookimpl, validate
from clhost.capabilities import REHEARSAL, TRAINING_DATA, Capabilities
from clhost.importance import require_keys
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import experience_tensors
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_from_scratch import FromScratchTrainingPlugin
from clhost_gdumb.buffer import GreedyClassBalancedBuffer
from clhost_gdumb.loader import TaskBalancedLoader

Balancing = Literal["greedy", "reservoir"]


class GDumbPlugin(SupervisedPlugin):
    """Before each experience: add its samples to the class-balanced memory, put the
    model back to its initial weights, and make the memory the only training data.

    The stream is only used to fill the memory, which is why GDumb is the "dumb"
    baseline of Prabhu, Torr & Dokania (ECCV 2020) that many methods fail to beat.

    ``balancing="greedy"`` is the paper's sampler (``GreedyClassBalancedBuffer``): the
    experience's samples arrive one at a time, in a random order, and a full memory only
    takes a sample of a class holding less than its share, so once every class has its
    share (e.g. domain-incremental streams, where every experience brings the same
    classes) later samples are dropped. ``"reservoir"`` is Avalanche's: one reservoir per
    class (``ClassBalancedBuffer``), a uniform sample of every sample of that class seen.

    The memory is trained on in plain shuffled minibatches (the paper's), or with
    ``task_balanced_dataloader`` in minibatches that give each task of the memory an
    equal share, smaller tasks oversampled (``TaskBalancedLoader``, Avalanche's loader
    for every task-aware stream); with one task the two are the same.
    """

    state_key = "gdumb"
    distributed = "replicated"  # rank 0's memory, broadcast when it changes

    capabilities = Capabilities(
        provides={TRAINING_DATA, REHEARSAL},
        conflicts={
            TRAINING_DATA: "GDumb trains on its greedy memory alone",
            REHEARSAL: "GDumb's memory is all it trains on; rehearsing another memory is "
            "no longer GDumb",
        },
    )

    def __init__(
        self,
        mem_size: int = 200,
        balancing: Balancing = "greedy",
        task_balanced_dataloader: bool = False,
    ):
        size = validate.non_negative_int("mem_size", mem_size)
        self.balancing = validate.one_of("balancing", balancing, get_args(Balancing))
        self.task_balanced_dataloader = validate.boolean(
            "task_balanced_dataloader", task_balanced_dataloader
        )
        self.storage_policy: GreedyClassBalancedBuffer | ClassBalancedBuffer = (
            GreedyClassBalancedBuffer(size)
            if balancing == "greedy"
            else ClassBalancedBuffer(size, adaptive_size=True)
        )
        # restarting from the initial weights, optimizer state cleared, is From-scratch's job
        self.from_scratch = FromScratchTrainingPlugin(reset_optimizer=True)

    @hookimpl
    def clhost_after_train_dataset_adaptation(self, strategy: Any) -> None:
        data = experience_tensors(strategy.experience)
        # A stream's samples come in no particular order: a dataset's own order (e.g.
        # by writer) must not decide which samples the greedy sampler keeps.
        self.storage_policy.add(strategy, data.subset(torch.randperm(len(data))))
        if distributed.world_size() > 1:  # rank 0's memory is every rank's training set
            self.storage_policy.load_state_dict(
                distributed.broadcast_object(self.storage_policy.state_dict())
            )
        strategy.adapted_dataset = self.storage_policy.buffer

    @hookimpl
    def clhost_train_dataloader(self, strategy: Any) -> TaskBalancedLoader | None:
        if not self.task_balanced_dataloader:
            return None
        return TaskBalancedLoader(strategy.adapted_dataset, strategy.train_mb_size)

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        self.from_scratch.clhost_before_training_exp(strategy)

    def state_dict(self) -> dict[str, Any]:
        # the keys checkpoints have always held: the memory and the initial weights
        return {"buffer": self.storage_policy.state_dict(), **self.from_scratch.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        require_keys(state, ("buffer", "initial"), "GDumbPlugin")
        self.storage_policy.load_state_dict(state["buffer"])
        self.from_scratch.load_state_dict(state)
