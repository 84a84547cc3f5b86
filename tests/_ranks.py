"""Run a function on 2 gloo processes (CPU), as torchrun would, and collect its results.

Tests call ``on_ranks(target, *args, tmp_path=...)``: each process joins a process group
through a file store, runs ``target(*args)`` and saves what it returns; one list of the
results in rank order comes back. ``target`` lives in an importable module (spawned
processes import it by name).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def on_ranks(
    target: Any,
    *args: Any,
    tmp_path: Path,
    world: int = 2,
    timeout: float = 30.0,
    in_step: bool = True,
    **kwargs: Any,
) -> list:
    """``target(*args, **kwargs)`` on each of ``world`` processes; results in rank order.
    Ranks that finished wait for each other before leaving the process group, unless the
    test makes them fall out of step on purpose (``in_step=False``)."""
    store = tmp_path / "store"
    call = (target, args, kwargs)
    mp.spawn(_worker, args=(world, str(store), str(tmp_path), timeout, in_step, call), nprocs=world)
    return [torch.load(tmp_path / f"rank{rank}.pt", weights_only=False) for rank in range(world)]


def _worker(
    rank: int, world: int, store: str, out: str, timeout: float, in_step: bool, call: tuple
) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{store}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=timeout),
    )
    finished = False
    try:
        target, args, kwargs = call
        result = target(*args, **kwargs)
        finished = True
    finally:
        # the clhost.distributed.leave rule: a rank that finished waits for the others
        # before tearing its connections down (else a peer's gloo may abort mid-close)
        if finished and in_step:
            dist.barrier()
        dist.destroy_process_group()
    torch.save(result, Path(out) / f"rank{rank}.pt")
