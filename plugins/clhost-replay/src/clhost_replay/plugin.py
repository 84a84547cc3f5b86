"""ReplayPlugin: train on new data and a storage policy's samples in every minibatch."""

from __future__ import annotations

from typing import Any

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.deprecation import renamed
from clhost.errors import CheckpointError, ParameterError
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import ExemplarsBuffer
from clhost.validate import boolean, non_negative_int, positive_int
from clhost_buffer_experience_balanced import ExperienceBalancedBuffer
from clhost_replay.loaders import replay_dataloader


class ReplayPlugin(SupervisedPlugin):
    """Experience Replay (Chaudhry et al. 2019; Rolnick et al. 2019).

    While an experience trains, each minibatch of ``batch_size`` new samples is joined
    with ``batch_size_mem`` samples drawn from the memory (both default to the
    strategy's ``train_mb_size``); with ``task_balanced_dataloader`` the memory part is
    split evenly among the task labels it holds. After the experience the memory, the
    buffer ``storage_policy``, takes its share of it. ``storage_policy``
    defaults to an adaptive ``ExperienceBalancedBuffer(mem_size)``; a buffer given must
    hold ``mem_size`` samples.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "replay"
    distributed = "replicated"  # rank 0's memory, broadcast after each experience

    @renamed(buffer="storage_policy")
    def __init__(
        self,
        mem_size: int = 200,
        batch_size: int | None = None,
        batch_size_mem: int | None = None,
        task_balanced_dataloader: bool = False,
        storage_policy: ExemplarsBuffer | None = None,
    ):
        self.mem_size = non_negative_int("mem_size", mem_size)
        self.batch_size = None if batch_size is None else positive_int("batch_size", batch_size)
        self.batch_size_mem = (
            None if batch_size_mem is None else positive_int("batch_size_mem", batch_size_mem)
        )
        self.task_balanced_dataloader = boolean(
            "task_balanced_dataloader", task_balanced_dataloader
        )
        if storage_policy is None:
            storage_policy = ExperienceBalancedBuffer(mem_size, adaptive_size=True)
        storage_policy = exemplars_buffer("storage_policy", storage_policy)
        if storage_policy.max_size != mem_size:
            raise ParameterError(
                f"storage_policy holds {storage_policy.max_size} samples but "
                f"mem_size={mem_size}; pass the same size to both"
            )
        self.storage_policy = storage_policy

    @hookimpl
    def clhost_train_dataloader(self, strategy: Any) -> Any:
        return replay_dataloader(strategy, self)

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        self.storage_policy.update(strategy)

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.storage_policy.state_dict()}  # the key checkpoints hold

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "buffer" not in state:
            raise CheckpointError("ReplayPlugin state lacks its buffer")
        self.storage_policy.load_state_dict(state["buffer"])


def exemplars_buffer(name: str, value: Any) -> ExemplarsBuffer:
    """``value`` if it is an ``ExemplarsBuffer``, else a ``ParameterError`` naming ``name``."""
    if not isinstance(value, ExemplarsBuffer):
        raise ParameterError(f"{name} must be an ExemplarsBuffer, got {type(value).__name__}")
    return value
