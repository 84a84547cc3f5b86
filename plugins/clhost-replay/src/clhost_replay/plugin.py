"""ReplayPlugin: train on new data and a replay buffer's samples in every minibatch."""

from __future__ import annotations

from typing import Any

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import ReplayLoader, make_loader
from clhost.errors import CheckpointError, ParameterError
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import ExemplarsBuffer
from clhost.rehearsal.data import to_tensor_data
from clhost_buffer_experience_balanced import ExperienceBalancedBuffer
from clhost_replay.loaders import TaskBalancedReplayLoader


class ReplayPlugin(SupervisedPlugin):
    """Experience Replay (Chaudhry et al. 2019; Rolnick et al. 2019).

    While an experience trains, each minibatch of ``batch_size`` new samples is joined
    with ``batch_size_mem`` samples drawn from the buffer (both default to the strategy's
    ``train_mb_size``); with ``task_balanced_dataloader`` the memory part is split evenly
    among the task labels it holds. After the experience the buffer takes its share of it.
    ``buffer`` defaults to an adaptive ``ExperienceBalancedBuffer(mem_size)``; a buffer
    given must hold ``mem_size`` samples.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    def __init__(
        self,
        mem_size: int = 200,
        batch_size: int | None = None,
        batch_size_mem: int | None = None,
        task_balanced_dataloader: bool = False,
        buffer: ExemplarsBuffer | None = None,
    ):
        if not isinstance(mem_size, int) or isinstance(mem_size, bool) or mem_size < 0:
            raise ParameterError(f"mem_size must be a non-negative integer, got {mem_size!r}")
        for name, value in (("batch_size", batch_size), ("batch_size_mem", batch_size_mem)):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ParameterError(f"{name} must be a positive integer or None, got {value!r}")
        if not isinstance(task_balanced_dataloader, bool):
            raise ParameterError(
                f"task_balanced_dataloader must be a bool, got {task_balanced_dataloader!r}"
            )
        if buffer is None:
            buffer = ExperienceBalancedBuffer(mem_size, adaptive_size=True)
        elif not isinstance(buffer, ExemplarsBuffer):
            raise ParameterError(f"buffer must be an ExemplarsBuffer, got {type(buffer).__name__}")
        elif buffer.max_size != mem_size:
            raise ParameterError(
                f"buffer holds {buffer.max_size} samples but mem_size={mem_size}; "
                "pass the same size to both"
            )
        self.mem_size, self.batch_size, self.batch_size_mem = mem_size, batch_size, batch_size_mem
        self.task_balanced_dataloader = task_balanced_dataloader
        self.buffer = buffer

    @hookimpl
    def clhost_train_dataloader(self, strategy: Any) -> Any:
        memory = self.buffer.buffer
        batch_size = self.batch_size or strategy.train_mb_size
        if len(memory) == 0:  # nothing to replay yet
            if self.batch_size is None:
                return None
            return make_loader(
                strategy.adapted_dataset,
                batch_size,
                shuffle=True,
                num_workers=strategy.num_workers,
            )
        current = to_tensor_data(strategy.adapted_dataset)
        batch_size_mem = self.batch_size_mem or strategy.train_mb_size
        if self.task_balanced_dataloader:
            return TaskBalancedReplayLoader(current, memory, batch_size, batch_size_mem)
        return ReplayLoader(current, memory, batch_size, batch_size_mem)

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        self.buffer.update(strategy)

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "buffer" not in state:
            raise CheckpointError("ReplayPlugin state lacks its buffer")
        self.buffer.load_state_dict(state["buffer"])
