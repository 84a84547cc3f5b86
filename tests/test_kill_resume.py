"""Runs killed at random points, many times over and in the middle of checkpoint writes
too, still resume to the result of a run that was never interrupted, bit for bit.

A kill is an exception no ``except Exception`` stops, raised from one of the points a
run passes: every call of a hook implementation, and every step of an atomic write (each
``write`` of the file, which then leaves half of its bytes behind, each ``fsync``, the
``rename``). As with SIGKILL, the killed writer does not remove its temporary file.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from _safety_parts import (
    BASE,
    contents,
    fake_site,  # noqa: F401 (autouse: only the fake distribution)
    invoke,
)

import clhost._atomic as atomic
from clhost._dispatch import HookDispatcher
from clhost.evaluation.efficiency import MEASURED

OPTIONS = [*BASE, "--benchmark", "split-digits:n_experiences=5"]
DIRECTORIES = 12  # run directories, each killed up to KILLS times before it may finish
KILLS = 4
SEED = 20261207


class Killed(BaseException):
    """The process dying where it stands."""


class Killer:
    """Counts the kill points a run passes, by kind, and kills at the chosen one."""

    def __init__(self, kind: str | None = None, at: int = 0):
        self.kind, self.at = kind, at
        self.passed = {"hook": 0, "write": 0}
        self.writing: Path | None = None  # the file an atomic write is producing
        self.killed_in: str | None = None

    def point(self, kind: str) -> None:
        if self.killed_in is not None:  # the dead do nothing more
            raise Killed
        self.passed[kind] += 1
        if kind == self.kind and self.passed[kind] == self.at:
            self.killed_in = "hook" if kind == "hook" else f"write {self.writing}"
            raise Killed


class DyingFile:
    """A file whose ``write`` is a kill point; killed, it writes half of the bytes."""

    def __init__(self, file, killer: Killer):
        self._file, self._killer = file, killer

    def write(self, data):
        try:
            self._killer.point("write")
        except Killed:
            self._file.write(bytes(data)[: len(data) // 2])
            self._file.flush()
            raise
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._file.close()


@contextmanager
def kill_points(killer: Killer):
    """Make every hook call and every atomic-write step a kill point of ``killer``."""
    resolve, real_open = HookDispatcher._resolve, open
    fsync, replace, unlink = atomic.os.fsync, atomic.os.replace, Path.unlink

    def dying(function):
        def call(strategy):
            killer.point("hook")
            return function(strategy)

        return call

    def opener(path, mode):
        killer.writing = Path(path)
        return DyingFile(real_open(path, mode), killer)

    def step(function):
        def run(*args):
            killer.point("write")
            return function(*args)

        return run

    def unlink_unless_killed(path, missing_ok=False):
        if killer.killed_in is None:  # a killed process cleans nothing up
            unlink(path, missing_ok=missing_ok)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            HookDispatcher, "_resolve", lambda self, n: tuple(map(dying, resolve(self, n)))
        )
        patch.setattr(atomic, "open", opener, raising=False)
        patch.setattr(atomic.os, "fsync", step(fsync))
        patch.setattr(atomic.os, "replace", step(replace))
        patch.setattr(Path, "unlink", unlink_unless_killed)
        yield


def attempt(directory: Path, killer: Killer) -> bool:
    """Run (or resume) in ``directory`` as a user would; ``True`` if it was not killed."""
    started = (directory / "options.json").exists() or (directory / "checkpoint.pt").exists()
    args = ["-o", directory, "--resume", "-q"] if started else [*OPTIONS, "-o", directory, "-q"]
    with kill_points(killer):
        try:
            result = invoke("run", *args)
        except Killed:
            return False
    if killer.killed_in is not None:  # whatever torch's writer raised while unwinding
        return False
    assert result.exit_code == 0, result.output
    return True


def outcome(directory: Path) -> dict:
    """Everything a run leaves that must not depend on interruptions (not the timings)."""
    results = json.loads((directory / "results.json").read_text())
    for entry in results["train_metrics"]:
        entry.pop("seconds")
    for measured in MEASURED:  # clocks and memory peaks
        results["efficiency"].pop(measured)
    checkpoint = torch.load(directory / "checkpoint.pt", weights_only=True)
    del checkpoint["components"]["evaluator"], checkpoint["digest"]  # timings
    visible = sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))
    return {
        "files": visible,
        "options": {**json.loads((directory / "options.json").read_text()), "output": None},
        "results": {k: v for k, v in results.items() if k not in ("train_seconds", "eval_seconds")},
        "checkpoint": checkpoint,
    }


def assert_same(a, b, where="") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{index}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_runs_killed_anywhere_resume_to_the_uninterrupted_result(tmp_path):
    counter = Killer()
    assert attempt(tmp_path / "whole", counter)
    expected = outcome(tmp_path / "whole")
    totals = dict(counter.passed)
    print(totals)
    assert totals["hook"] > 200 and totals["write"] > 20

    chosen = random.Random(SEED)
    kills: list[str] = []
    for index in range(DIRECTORIES):
        directory = tmp_path / f"run{index}"
        for _ in range(KILLS):
            kind = chosen.choice(["hook", "write"])
            killer = Killer(kind, chosen.randint(1, totals[kind]))
            if attempt(directory, killer):
                break  # the kill point lay beyond what was left of the run
            kills.append(killer.killed_in)
            before = contents(directory)
            assert before is None or "results.json" not in before or "checkpoint.pt" in before
        else:
            assert attempt(directory, Killer())
        assert_same(outcome(directory), expected, directory.name)

    in_checkpoints = sum("checkpoint.pt" in kill for kill in kills if kill.startswith("write"))
    print(
        f"{len(kills)} kills: {kills.count('hook')} in hooks, {in_checkpoints} in checkpoint writes"
    )
    assert len(kills) >= DIRECTORIES * 2 and in_checkpoints >= 8


def test_a_process_killed_by_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    """The real thing once: no Python cleanup at all, then a resume in this process."""
    options = [
        *("--strategy", "naive", "--benchmark", "split-digits:n_experiences=5"),
        *("--model", "mlp:hidden_sizes=32", "--epochs", "3", "--device", "cpu", "-q"),
    ]
    assert invoke("run", *options, "-o", tmp_path / "whole").exit_code == 0
    cut = tmp_path / "cut"
    command = "import sys; from clhost.cli import main; main(sys.argv[1:])"
    environment = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    process = subprocess.Popen(
        [sys.executable, "-c", command, "run", *options, "-o", str(cut)], env=environment
    )
    deadline = time.monotonic() + 120
    while not (cut / "checkpoint.pt").exists() and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (cut / "results.json").exists(), "the run ended before it was killed"
    resumed = invoke("run", "-o", cut, "--resume", "-q")
    assert resumed.exit_code == 0, resumed.output
    assert_same(outcome(cut), outcome(tmp_path / "whole"))
