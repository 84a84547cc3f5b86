"""The distributed context plugins see: rank, world size and the few collectives they need.

Multi-process training is ``torch.distributed`` (DDP; gloo on CPU, NCCL on GPU) started by
``torchrun``; this module never starts processes. Every function is a no-op (or the
identity) in a single process, so plugins call them unconditionally. Collectives run
under the process group's timeout (``init_from_environment``): a rank that fails or stops
calling them brings the others down with one ``DistributedError`` instead of a hang.

Each plugin declares how its state behaves across ranks in a class attribute
``distributed`` (``REPLICATED``, ``SHARDED`` or ``UNSUPPORTED``); an undeclared plugin is
unsupported, and ``check_supported`` refuses it when a process group is running.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from clhost.errors import ClhostError, PluginCompositionError

REPLICATED = "replicated"
"""Every rank holds the same state: rank 0's is broadcast after each experience (so it
may be decided on rank 0 from a seeded generator, or computed from all-reduced
statistics on every rank)."""
SHARDED = "sharded"
"""Each rank holds its own part (e.g. a reservoir of ``mem_size / world_size``)."""
UNSUPPORTED = "unsupported"
"""Refused under DDP; ``distributed_reason`` (a class attribute) may say why."""
POLICIES = (REPLICATED, SHARDED, UNSUPPORTED)

DEFAULT_TIMEOUT = timedelta(seconds=float(os.environ.get("CLHOST_DIST_TIMEOUT", "300")))

T = TypeVar("T")


class DistributedError(ClhostError, RuntimeError):
    """A collective failed or timed out: another rank died or stopped calling it."""


# -- the context ----------------------------------------------------------------------


def is_distributed() -> bool:
    """True when a process group is initialised (even of one process)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank, 0 in a single process."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes, 1 in a single process."""
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on the rank that writes files and prints (rank 0)."""
    return rank() == 0


def local_device() -> torch.device:
    """The device of this process: ``cuda:LOCAL_RANK`` under NCCL, else the CPU."""
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def init_from_environment(timeout: timedelta = DEFAULT_TIMEOUT) -> bool:
    """Join the process group ``torchrun`` describes in the environment (``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``...); NCCL when CUDA is present, else gloo. Returns
    False, doing nothing, outside ``torchrun`` or when already initialised."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ or is_distributed():
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, timeout=timeout)
    return True


def leave(finished: bool = True) -> None:
    """Leave the process group ``init_from_environment`` joined (if any). A rank that
    ``finished`` first waits for the others at a barrier: one that tore its connections
    down while a peer was still closing made that peer's gloo abort ("terminate called
    without an active exception"). A failed rank leaves at once."""
    if not is_distributed():
        return
    try:
        if finished:
            dist.barrier()
    finally:
        dist.destroy_process_group()


# -- collectives ----------------------------------------------------------------------


@contextmanager
def _collective(what: str) -> Iterator[None]:
    """Turn the backend's error (a timeout, a peer that closed its connection) into one
    ``DistributedError`` saying which collective and rank failed."""
    try:
        yield
    except (RuntimeError, dist.DistBackendError) as error:
        raise DistributedError(
            f"rank {rank()} of {world_size()}: {what} failed, most likely because another "
            f"rank failed or stopped calling it (see that rank's error): {error}"
        ) from error


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over every rank, in place; returned for chaining."""
    if world_size() > 1:
        with _collective("all_reduce"):
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_mean(tensor: Tensor) -> Tensor:
    """Average ``tensor`` over every rank in place, as DDP averages gradients."""
    if world_size() > 1:
        all_reduce_sum(tensor).div_(world_size())
    return tensor


def sum_over_ranks(values: Sequence[float]) -> list[float]:
    """Each of ``values`` summed over every rank (float64, so counts stay exact)."""
    if world_size() == 1:
        return list(values)
    return all_reduce_sum(torch.tensor(values, dtype=torch.float64, device=_wire())).tolist()


def broadcast_tensor(tensor: Tensor, src: int = 0) -> Tensor:
    """Overwrite ``tensor`` in place with rank ``src``'s (same shape and dtype everywhere)."""
    if world_size() > 1:
        with _collective("broadcast"):
            wire = tensor.to(_wire())
            dist.broadcast(wire, src=src)
            tensor.copy_(wire)
    return tensor


def broadcast_object(value: T, src: int = 0) -> T:
    """Rank ``src``'s ``value`` on every rank (pickled: plain data, tensors, states)."""
    if world_size() == 1:
        return value
    box = [value]
    with _collective("broadcast_object"):
        dist.broadcast_object_list(box, src=src, device=_wire())
    return box[0]


def all_gather_object(value: T) -> list[T]:
    """Every rank's ``value``, in rank order."""
    if world_size() == 1:
        return [value]
    gathered: list[Any] = [None] * world_size()
    with _collective("all_gather_object"):
        dist.all_gather_object(gathered, value)
    return gathered


def all_gather_rows(tensor: Tensor) -> Tensor:
    """Every rank's ``tensor`` concatenated along dim 0 in rank order; the ranks may hold
    different numbers of rows (the rest of the shape and the dtype must agree)."""
    if world_size() == 1:
        return tensor
    sizes = [int(n) for n in all_gather_object(len(tensor))]
    wire = tensor.to(_wire())
    padded = wire.new_zeros((max(sizes), *tensor.shape[1:]))
    padded[: len(tensor)] = wire
    parts = [torch.empty_like(padded) for _ in sizes]
    with _collective("all_gather"):
        dist.all_gather(parts, padded)
    rows = [part[:size] for part, size in zip(parts, sizes, strict=True)]
    return torch.cat(rows).to(tensor.device)


def barrier() -> None:
    """Wait until every rank reaches this point."""
    if world_size() > 1:
        with _collective("barrier"):
            dist.barrier()


def my_share(index: Tensor) -> Tensor:
    """This rank's part of ``index`` as rank 0 drew it (``rank_part`` of rank 0's
    ``index``). The identity in a single process."""
    if world_size() == 1:
        return index
    return rank_part(broadcast_tensor(index.clone()))


def rank_part(index: Tensor) -> Tensor:
    """This rank's slice of a global minibatch ``index`` (the same on every rank), split
    so that every rank gets a part: an index shorter than the world is repeated, as
    ``DistributedSampler`` pads. The identity in a single process."""
    world = world_size()
    if world == 1:
        return index
    if len(index) < world:
        index = index.repeat(-(-world // max(len(index), 1)))[:world]
    return torch.tensor_split(index, world)[rank()]


def share_of(total: int) -> int:
    """This rank's part of ``total`` items (a memory size, a minibatch) split as evenly
    as possible; ``total`` in a single process."""
    whole, rest = divmod(total, world_size())
    return whole + (rank() < rest)


def main_first(action: Callable[[], T]) -> T | None:
    """Run ``action`` on rank 0 only (a file write), then wait for every rank."""
    result = action() if is_main() else None
    barrier()
    return result


def _wire() -> torch.device:
    """Where tensors must be for the backend's collectives (the GPU under NCCL)."""
    nccl = is_distributed() and dist.get_backend() == "nccl"
    return local_device() if nccl else torch.device("cpu")


# -- declarations ---------------------------------------------------------------------


def policy_of(component: object) -> str:
    """How ``component``'s state behaves across ranks; undeclared is ``UNSUPPORTED``. A
    class attribute, or a property where it depends on the options (DER's memory)."""
    declared = getattr(component, "distributed", UNSUPPORTED)
    return declared if declared in POLICIES else UNSUPPORTED


def check_supported(components: Sequence[tuple[str, object]]) -> None:
    """Refuse, when a process group is running, every ``(label, plugin)`` whose state
    cannot be kept right across ranks, naming it and its declared reason."""
    if not is_distributed():
        return
    for label, component in components:
        if policy_of(component) == UNSUPPORTED:
            reason = getattr(type(component), "distributed_reason", None)
            why = reason or (
                "it does not declare how its state behaves across ranks (class attribute "
                "distributed = 'replicated' or 'sharded', see docs/distributed.md)"
            )
            raise PluginCompositionError(
                f"{label} is not supported under distributed training: {why}"
            )


def synchronise(components: Sequence[object]) -> None:
    """After each experience: rank 0's state for every replicated component, and rank
    0's random generators everywhere, so ranks agree and a checkpoint written by rank 0
    resumes every rank."""
    if world_size() == 1:
        return
    from clhost.checkpoint import rng_state, set_rng_state

    for component in components:
        if policy_of(component) == REPLICATED and callable(getattr(component, "state_dict", None)):
            state = component.state_dict()  # type: ignore[attr-defined]
            if state:
                received = broadcast_object(state)
                if not is_main():  # rank 0's state may share memory with its own fields
                    received = _on_device(received, local_device())
                    component.load_state_dict(received)  # type: ignore[attr-defined]
    set_rng_state(broadcast_object(rng_state()))


def _on_device(value: Any, device: torch.device) -> Any:
    """``value`` with every CUDA tensor moved to ``device`` (rank 0's GPU tensors arrive
    on rank 0's GPU index); CPU tensors stay where they are."""
    if isinstance(value, Tensor):
        return value.to(device) if value.is_cuda else value
    if isinstance(value, dict):
        return {key: _on_device(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_device(item, device) for item in value)
    return value


# -- sharded state in checkpoints -----------------------------------------------------

SHARDS = "rank_states"  # the key of a sharded component's per-rank states in a checkpoint


def gather_shards(components: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every rank's state of each sharded component, for rank 0 to write (a collective);
    ``{}`` in a single process."""
    if world_size() == 1:
        return {}
    return {
        key: {SHARDS: all_gather_object(component.state_dict())}
        for key, component in components.items()
        if policy_of(component) == SHARDED
    }


def own_shards(saved: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """``saved`` component states with this rank's part in place of every sharded
    component's per-rank states; ``CheckpointError`` when the checkpoint was written by
    another number of processes than are resuming it."""
    from clhost.errors import CheckpointError

    states = dict(saved)
    for key, component in components.items():
        state = states.get(key)
        parts = state.get(SHARDS) if isinstance(state, dict) else None
        if policy_of(component) != SHARDED or (world_size() == 1 and parts is None):
            continue
        written_by = 1 if parts is None else len(parts)
        if parts is None or written_by != world_size():
            raise CheckpointError(
                f"component {key!r} holds one part per process and was saved by "
                f"{written_by} process(es); resume it with {written_by}, not {world_size()}"
            )
        states[key] = parts[rank()]
    return states
