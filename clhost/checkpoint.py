"""Checkpoints a killed run can resume from, bitwise identical to a run never stopped.

A checkpoint is one ``torch.save`` file of plain data (tensors, numbers, strings, lists,
dicts), read back with ``torch.load(weights_only=True)`` so loading never runs pickled
code. It holds the model, the optimizer, the state of every stateful component (plugins,
criterion, evaluator, clock) under its stable key, the random number generators, the
position in the train stream, a digest of all of it (``torch.load`` does not check the
zip's checksums, so a flipped byte in a tensor would otherwise load silently) and a
fingerprint of the experiment: its structure and,
when the caller recorded it (``run_experiment`` does), the description of the experiment
as built (``clhost._description``), so that a strategy or benchmark built with other
parameters is refused, naming what differs, instead of silently mixing two runs.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from clhost._atomic import atomic_write
from clhost._description import describe_experiment, differences, digest_of, summary
from clhost.data import Benchmark, Experience
from clhost.distributed import own_shards
from clhost.errors import CheckpointError
from clhost.templates.state import ModelStateMismatch, reason

FORMAT = "clhost-checkpoint"
VERSION = 2  # 2: the digest and the experiment's description

_MAPPINGS = ("fingerprint", "model", "components", "rng")  # parts read as dicts
_PLAIN = (Tensor, bool, int, float, str, bytes, type(None), torch.dtype, torch.device)


def save_checkpoint(
    strategy: Any,
    path: str | Path,
    position: int,
    *,
    benchmark: Benchmark | None = None,
    experiment: Mapping[str, Any] | None = None,
    shards: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint of ``strategy`` after ``position`` train experiences.

    The file is written next to ``path`` and renamed over it once synced to disk, so a
    crash leaves the previous checkpoint intact. ``benchmark`` names the experiment in
    the fingerprint; ``experiment`` is ``describe_experiment`` of the strategy taken
    before it trained, recorded so that ``load_checkpoint`` refuses a strategy, benchmark
    or settings that differ from it. A component whose state is not plain data is an
    error here, when it can still be fixed, not when the run is resumed. Under
    distributed training rank 0 writes it, with ``shards`` (``distributed.gather_shards``):
    every rank's state of each sharded component.
    """
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise ValueError(f"position must be a non-negative integer, got {position!r}")
    state = strategy.state_dict()
    state["components"].update(shards or {})
    for key, component_state in state["components"].items():
        _require_plain(component_state, f"state of {key!r}")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "position": position,
        "fingerprint": {**fingerprint(strategy, benchmark), "experiment": experiment},
        "model": state["model"],
        "optimizer": state.get("optimizer"),
        "components": state["components"],
        "rng": rng_state(),
    }
    payload["digest"] = digest_of(payload)
    return atomic_write(path, lambda file: torch.save(payload, file))


def load_checkpoint(
    strategy: Any,
    path: str | Path,
    *,
    benchmark: Benchmark | None = None,
    experiences: Sequence[Experience] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> int:
    """Restore ``strategy`` from ``path``; returns the number of train experiences done.

    A model that grows with the stream is first grown again: ``strategy.model_adaptation``
    (and the optimizer refresh) runs for each of the experiences already done, taken from
    ``experiences`` or else ``benchmark.train_stream``. Then the model, optimizer,
    component and RNG states are loaded; tensors come back on ``strategy.device``. A
    corrupt file, another format or a checkpoint of another experiment raises
    ``CheckpointError`` before the strategy is touched: when the checkpoint recorded the
    experiment's description, ``strategy`` (which must be freshly built), ``benchmark``
    and ``settings`` must match it in every parameter; a state that does not fit once the
    model was regrown also raises it, and the strategy must then be rebuilt.
    """
    path = Path(path)
    payload = _read(path, getattr(strategy, "device", "cpu"))
    position = payload["position"]
    saved = dict(payload["fingerprint"])
    saved["components"] = strategy.current_state_keys(saved.get("components") or [])
    _check_fingerprint(saved, fingerprint(strategy, benchmark), path)
    _check_experiment(payload["fingerprint"], strategy, benchmark, settings, path)
    payload["components"] = own_shards(payload["components"], strategy.stateful_components())
    stream = experiences if experiences is not None else _train_stream(benchmark)
    if stream is not None and position > len(stream):
        raise CheckpointError(
            f"{path}: {position} experiences were done but the stream has only {len(stream)}"
        )
    try:
        strategy.load_state_dict(payload, regrow_for=list(stream or ())[:position])
    except ModelStateMismatch as error:
        hint = (
            f"the model was grown for {position} experiences and must be rebuilt"
            if stream is not None
            else "pass benchmark= or experiences= so a growing model can be regrown"
        )
        raise CheckpointError(
            f"{path}: the model does not match the checkpoint ({error}); {hint}"
        ) from None
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    try:
        set_rng_state(payload["rng"])
    except Exception as error:  # a malformed generator state
        raise CheckpointError(
            f"{path}: the random generators could not be restored ({reason(error)}); the "
            "strategy is partly restored and must be rebuilt"
        ) from None
    return position


# -- what is saved --------------------------------------------------------------------


def fingerprint(strategy: Any, benchmark: Benchmark | None = None) -> dict[str, Any]:
    """What identifies the experiment: strategy class, component keys, benchmark name."""
    cls = type(strategy)
    return {
        "strategy": f"{cls.__module__}.{cls.__qualname__}",
        "components": strategy.state_keys(),
        "benchmark": benchmark.name if benchmark is not None else None,
    }


def rng_state() -> dict[str, Any]:
    """The global random generators (Python, NumPy, torch CPU and CUDA) as plain data."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    keys = np.asarray(keys)
    return {
        "python": {"version": version, "state": torch.tensor(internal), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned; CUDA states only for the devices present."""
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].cpu().numpy().astype(np.uint32),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), device)


def _require_plain(value: Any, where: str) -> None:
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _require_plain(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _require_plain(key, f"{where} key")
            _require_plain(item, f"{where}[{key!r}]")
        return
    raise CheckpointError(
        f"{where} holds a {type(value).__name__}; component state may hold only tensors, "
        "numbers, strings, None and lists/tuples/dicts of them"
    )


# -- what is checked before loading ---------------------------------------------------


def _read(path: Path, device: Any) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated, or not plain data): "
            f"{reason(error)}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a clhost checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('version')!r}; this clhost "
            f"reads version {VERSION}"
        )
    expected = {"position", "fingerprint", "model", "optimizer", "components", "rng", "digest"}
    missing = expected - payload.keys()
    position = payload.get("position")
    if missing or not isinstance(position, int) or position < 0:
        raise CheckpointError(f"{path} is incomplete: missing {sorted(missing) or 'position'}")
    content = {key: value for key, value in payload.items() if key != "digest"}
    if payload["digest"] != digest_of(content):
        raise CheckpointError(
            f"{path} is damaged: its contents do not match the digest written with them"
        )
    malformed = [key for key in _MAPPINGS if not isinstance(payload[key], dict)]
    if malformed:
        raise CheckpointError(f"{path} is malformed: {', '.join(malformed)} not a mapping")
    return payload


def _check_fingerprint(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    found = [
        f"{field} {saved.get(field)!r} in the checkpoint, {value!r} now"
        for field, value in current.items()
        if saved.get(field) != value
        and not (field == "benchmark" and (value is None or saved.get(field) is None))
    ]
    if found:
        raise CheckpointError(f"{path} belongs to another experiment: " + "; ".join(found))


def _check_experiment(
    saved: dict[str, Any],
    strategy: Any,
    benchmark: Benchmark | None,
    settings: Mapping[str, Any] | None,
    path: Path,
) -> None:
    """Compare the recorded description with the fresh strategy's (a checkpoint written
    without one, by a direct ``save_checkpoint`` call, has nothing to compare)."""
    recorded = saved.get("experiment")
    if not isinstance(recorded, dict):
        return
    found = differences(recorded, describe_experiment(strategy, benchmark, settings))
    if found:
        raise CheckpointError(f"{path} belongs to another experiment: {summary(found)}")


def _train_stream(benchmark: Benchmark | None) -> Sequence[Experience] | None:
    return benchmark.train_stream if benchmark is not None else None
