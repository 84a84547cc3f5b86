"""Sweeps: the experiment ``clhost run`` composes, repeated over strategies, parameter
values, class orders and seeds, each run in a directory of its own.

A run's directory is an ordinary ``clhost run`` output (``options.json``, the checkpoint
after each experience, ``results.json``): a finished run is skipped, an interrupted one
resumes from its checkpoint, so a killed sweep started again finishes only what was
missing. Runs go to worker processes (each run in a fresh one, so its peak memory is its
own); the sweep then writes ``runs.jsonl`` (a row per finished run) and the aggregate
tables of ``clhost.evaluation.aggregate``.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from clhost._atomic import atomic_write_text, require_writable_directory
from clhost.cli._options import SAVED_OPTIONS, RunOptions, Spec
from clhost.errors import ClhostError, ParameterError
from clhost.evaluation import aggregate
from clhost.evaluation.loggers import json_ready

PLAN_NAME = "sweep.json"
ROWS_NAME = "runs.jsonl"
TABLES = {"md": aggregate.markdown, "tex": aggregate.latex, "csv": aggregate.csv_text}
SUMMARY_STEM = "summary"
_RESULTS = "results.json"
LOCK_NAME = "running.lock"  # held by the process running the run


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its directory name, its options, and where it sits on the
    sweep's axes (``params``: the values of the swept parameters it takes)."""

    name: str
    options: RunOptions
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    order: int | None = None

    @property
    def directory(self) -> Path:
        assert self.options.output is not None
        return Path(self.options.output)

    def status(self) -> str:
        """``done`` (results written), ``partial`` (started) or ``new``."""
        if (self.directory / _RESULTS).exists():
            return "done"
        started = any((self.directory / n).exists() for n in (SAVED_OPTIONS, "checkpoint.pt"))
        return "partial" if started else "new"


def plan(
    base: RunOptions,
    output: str | Path,
    *,
    strategies: Sequence[str],
    seeds: Sequence[int] = (0,),
    orders: Sequence[int] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
) -> list[PlannedRun]:
    """Every run of ``strategies`` x parameter values x ``orders`` x ``seeds``.

    ``grid`` maps a strategy parameter to its values; each parameter goes to the
    strategies that take it (``mem_size`` to replay, not to EWC) and one no strategy
    takes is an error. ``base.strategy.params`` (a ``--config`` file's) are grid entries
    with one value. ``orders`` are the benchmark's ``seed`` (its class order); without
    them the benchmark keeps its own.
    """
    from clhost._params import accepts
    from clhost.cli._compose import _strategy_class

    if not strategies:
        raise ParameterError("a sweep needs at least one strategy")
    _unique("--seeds", seeds)
    _unique("--orders", orders or ())
    _unique("--strategy", strategies)
    grid = {**{k: [v] for k, v in base.strategy.params.items()}, **(grid or {})}
    for key, values in grid.items():
        if not values:
            raise ParameterError(f"-p {key}: no value given")
    taking = {name: _strategy_class(name)[0] for name in strategies}
    keys = {key: key.strip().replace("-", "_") for key in grid}
    for key, name in keys.items():
        if not any(accepts(cls, name) for cls in taking.values()):
            listed = ", ".join(strategies)
            raise ParameterError(f"-p {key}: none of the strategies ({listed}) takes {name!r}")
    if orders is not None:
        _require_order_seed(base.benchmark)
    runs = []
    for strategy, cls in taking.items():
        own = {key: values for key, values in grid.items() if accepts(cls, keys[key])}
        for params in _product(own):
            for order in orders if orders is not None else [None]:
                for seed in seeds:
                    runs.append(_planned(base, output, strategy, params, order, seed))
    return runs


def _planned(
    base: RunOptions,
    output: str | Path,
    strategy: str,
    params: dict[str, Any],
    order: int | None,
    seed: int,
) -> PlannedRun:
    parts = [strategy, *(f"{k}={_text(v)}" for k, v in params.items())]
    parts += [f"order={order}"] if order is not None else []
    name = _safe("__".join([*parts, f"seed={seed}"]))
    benchmark = base.benchmark
    if order is not None:
        benchmark = Spec(benchmark.name, {**benchmark.params, "seed": order})
    options = replace(
        base,
        strategy=Spec(strategy, dict(params)),
        benchmark=benchmark,
        seed=seed,
        output=str(Path(output) / name),
        plugins=list(base.plugins),
    )
    return PlannedRun(name, options, strategy, dict(params), seed, order)


def _product(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    combinations: list[dict[str, Any]] = [{}]
    for key, values in grid.items():
        combinations = [{**c, key: v} for c in combinations for v in values]
    return combinations


def _unique(option: str, values: Sequence[Any]) -> None:
    repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
    if repeated:
        raise ParameterError(f"{option}: {', '.join(repeated)} given more than once")


def _require_order_seed(benchmark: Spec) -> None:
    from clhost import registry
    from clhost._params import accepts

    if not accepts(registry.load("benchmark", benchmark.name), "seed"):
        raise ParameterError(
            f"--orders: benchmark {benchmark.name!r} takes no 'seed' to shuffle its class order"
        )
    if "seed" in benchmark.params:
        raise ParameterError(
            f"--orders and --benchmark {benchmark}: give the class order once, not both"
        )


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]", "-", name)


# -- running ---------------------------------------------------------------------------


@dataclass
class SweepOutcome:
    """What a sweep did: the rows of every finished run (in plan order), the runs
    skipped as already done, those run now, those that failed with their error, and
    those left to another sweep that was running them."""

    rows: list[dict[str, Any]]
    skipped: list[str]
    ran: list[str]
    failed: dict[str, str]
    busy: list[str] = field(default_factory=list)


def execute(run: PlannedRun, *, prepare: Callable[[Any], object] | None = None) -> dict:
    """Run (or resume, or just read) one run and return its row. ``prepare`` receives the
    built strategy before training (tests use it to kill a run part-way). Raises
    ``RunBusy`` while another process runs it."""
    directory = run.directory
    _check_saved_options(run)
    if run.status() == "done":
        return row(run, directory)
    require_writable_directory(directory, what="run directory")
    with running(directory):
        if run.status() == "done":  # finished by another sweep while this one waited
            return row(run, directory)
        return _train(run, prepare)


def _train(run: PlannedRun, prepare: Callable[[Any], object] | None) -> dict:
    from clhost.cli._compose import build
    from clhost.experiment import run_experiment

    directory = run.directory
    composition = build(run.options)
    if not (directory / SAVED_OPTIONS).exists():
        atomic_write_text(directory / SAVED_OPTIONS, run.options.to_json())
    if prepare is not None:
        prepare(composition.strategy)
    run_experiment(
        composition.strategy,
        composition.benchmark,
        output_dir=directory,
        resume=True,
        eval_streams=composition.eval_streams,
        settings={"seed": run.options.seed},  # as clhost run records it
    )
    return row(run, directory)


class RunBusy(ClhostError):
    """Another process (a second ``clhost sweep`` on the same output) is running the run."""


@contextmanager
def running(directory: Path) -> Iterator[None]:
    """Hold ``directory``'s lock (``LOCK_NAME``) while the block runs, or raise
    ``RunBusy``. An ``flock``, so the system releases it when its process dies: a killed
    sweep leaves no stale lock. Where ``fcntl`` is missing (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_NAME, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusy(f"{directory.name}: another clhost sweep is running it") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check_saved_options(run: PlannedRun) -> None:
    """A run directory started with other options is not this run: refuse it rather
    than skip it or mix two experiments (the checkpoint would refuse it too, later)."""
    path = run.directory / SAVED_OPTIONS
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
    except ValueError as error:
        raise ParameterError(f"{path}: cannot read it: {error}") from None
    if not isinstance(saved, dict):
        raise ParameterError(f"{path}: expected the options of a run, got {saved!r:.60}")
    wanted = json.loads(run.options.to_json())
    for options in (saved, wanted):
        options.pop("output", None)  # where the sweep is may change
    if saved != wanted:
        different = sorted(k for k in {*saved, *wanted} if saved.get(k) != wanted.get(k))
        raise ParameterError(
            f"{run.directory} holds a run started with other options ({', '.join(different)} "
            "differ); use another --output for a different sweep"
        )


def row(run: PlannedRun, directory: Path) -> dict[str, Any]:
    """The JSONL row of a finished run: its place in the sweep, its summary metrics,
    its efficiency record and its accuracy matrix."""
    from clhost.evaluation import metrics

    results = json.loads((directory / _RESULTS).read_text())
    matrix = [[_float(v) for v in r] for r in results["accuracy_matrix"]]
    curve = metrics.average_accuracy_curve(matrix)
    return json_ready(
        {
            "run": run.name,
            "strategy": run.strategy,
            "params": run.params,
            "seed": run.seed,
            "order": run.order,
            "final_accuracy": results["average_accuracy"],
            "average_incremental_accuracy": metrics.mean(curve),
            "forgetting": results["forgetting"],
            "bwt": results["bwt"],
            "fwt": results["fwt"],
            "efficiency": results.get("efficiency", {}),
            "accuracy_curve": curve,
            "accuracy_matrix": results["accuracy_matrix"],
        }
    )


def _float(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def run_sweep(
    runs: Sequence[PlannedRun],
    output: str | Path,
    *,
    jobs: int = 1,
    echo: Callable[[str], object] = print,
    describe: Mapping[str, Any] | None = None,
) -> SweepOutcome:
    """Run every run not yet done, ``jobs`` at a time, each in a fresh worker process
    (``jobs=0``: one after the other in this process); then write ``runs.jsonl`` and
    the summary tables in ``output``. A run that fails is reported and the others go on;
    one that another sweep on ``output`` is running is skipped (``running``).
    ``describe`` (the sweep's options) is recorded in ``sweep.json`` with the plan."""
    directory = Path(output)
    require_writable_directory(directory, what="--output")
    _check_names(runs)
    for run in runs:  # a finished run of another experiment must not join the table
        _check_saved_options(run)
    check_compositions(runs)
    plan_text = json.dumps(
        {"sweep": dict(describe or {}), "runs": [_planned_entry(r) for r in runs]}, indent=2
    )
    atomic_write_text(directory / PLAN_NAME, plan_text + "\n")
    skipped = [r.name for r in runs if r.status() == "done"]
    todo = [r for r in runs if r.name not in skipped]
    if skipped:
        echo(f"{len(skipped)} of {len(runs)} runs already done, skipped")
    ran: list[str] = []
    failed: dict[str, str] = {}
    busy: list[str] = []
    for run, outcome, seconds in _execute_all(todo, jobs):
        done = len(ran) + len(failed) + len(busy) + 1
        if outcome is None:
            busy.append(run.name)
            echo(f"[{done}/{len(todo)}] {run.name}: skipped, another clhost sweep is running it")
        elif isinstance(outcome, dict):
            ran.append(run.name)
            final = outcome["final_accuracy"]
            accuracy = "n/a" if final is None else f"{final:.4f}"
            echo(f"[{done}/{len(todo)}] {run.name}: final accuracy {accuracy} in {seconds:.1f} s")
        else:
            failed[run.name] = outcome
            echo(f"[{done}/{len(todo)}] {run.name}: FAILED: {outcome}")
    rows = [row(r, r.directory) for r in runs if r.status() == "done"]
    write_rows(rows, directory)
    return SweepOutcome(rows, skipped, ran, failed, busy)


def write_rows(rows: Sequence[Mapping[str, Any]], directory: Path) -> list[Path]:
    """``runs.jsonl`` and the summary tables, each written atomically."""
    lines = "".join(json.dumps(r, allow_nan=False) + "\n" for r in rows)
    written = [atomic_write_text(directory / ROWS_NAME, lines)]
    return written + write_tables(rows, directory)


def write_tables(rows: Sequence[Mapping[str, Any]], directory: Path) -> list[Path]:
    """``summary.md``, ``summary.tex`` and ``summary.csv`` of ``rows``."""
    groups = aggregate.aggregate(rows)
    return [
        atomic_write_text(directory / f"{SUMMARY_STEM}.{suffix}", render(groups))
        for suffix, render in TABLES.items()
    ]


def check_compositions(runs: Sequence[PlannedRun]) -> None:
    """Build the first run of each strategy and parameter values here, so a mistake
    shared by its runs (a bad benchmark parameter, a buffer no strategy takes) is one
    clear error before anything starts, not a failure per run."""
    from clhost.cli._compose import build

    seen = set()
    for run in runs:
        key = (run.strategy, json.dumps(run.params, sort_keys=True, default=str), run.order)
        if key not in seen and run.status() != "done":
            seen.add(key)
            build(run.options)


def _planned_entry(run: PlannedRun) -> dict[str, Any]:
    return {
        "name": run.name,
        "strategy": run.strategy,
        "params": run.params,
        "seed": run.seed,
        "order": run.order,
    }


def _check_names(runs: Sequence[PlannedRun]) -> None:
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ParameterError(f"two runs of the sweep share a directory: {', '.join(repeated)}")


def _execute_all(runs: Sequence[PlannedRun], jobs: int) -> Any:
    """``(run, row or failure message, seconds)`` as each run ends."""
    if jobs == 0:
        for run in runs:
            yield _execute_reporting(run)
        return
    yield from _in_workers(runs, jobs, _execute_reporting)


def _in_workers(runs: Sequence[PlannedRun], jobs: int, work: Callable[..., Any]) -> Any:
    """``work(run)`` for each run in a fresh process of its own, ``jobs`` at a time. A
    process that dies before answering (killed, out of memory) is that run's failure;
    the others go on."""
    from multiprocessing.connection import Connection, wait

    context = _worker_context()
    queued = list(runs)
    running: dict[Any, tuple[PlannedRun, Any, float]] = {}
    try:
        while queued or running:
            while queued and len(running) < jobs:
                run = queued.pop(0)
                reader, writer = context.Pipe(duplex=False)
                process = context.Process(target=_answer, args=(work, run, writer))
                process.start()
                writer.close()  # the worker's end only: its death ends the pipe
                running[reader] = (run, process, time.perf_counter())
            for ready in wait(list(running)):
                reader = cast(Connection, ready)
                run, process, start = running.pop(reader)
                try:
                    answer = reader.recv()
                except EOFError:
                    answer = None
                reader.close()
                process.join()
                yield answer or (run, _died(process.exitcode), time.perf_counter() - start)
    finally:
        for _, process, _ in running.values():
            process.terminate()
            process.join()


def _answer(work: Callable[..., Any], run: PlannedRun, connection: Any) -> None:
    """A worker: ``work(run)`` sent back to the sweep."""
    connection.send(work(run))
    connection.close()


def _died(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"its worker process was killed ({signal.Signals(-exitcode).name})"
        except ValueError:
            pass
    return f"its worker process died (exit code {exitcode})"


def _execute_reporting(run: PlannedRun) -> tuple[PlannedRun, dict | str | None, float]:
    """``execute``: its row, or a failure as its one-line message (user mistakes as they
    are, anything else with its type), so one broken run does not stop the others;
    ``None`` for a run another process is running."""
    start = time.perf_counter()
    try:
        result: dict | str | None = execute(run)
    except RunBusy:
        result = None
    except ClhostError as error:
        result = str(error)
    except Exception as error:
        result = f"{type(error).__name__}: {error}"
    return run, result, time.perf_counter() - start


def _worker_context() -> Any:
    """Workers forked from a server that imported clhost and torch once (POSIX), so a
    fresh process per run costs a fork rather than an import of torch."""
    if sys.platform != "win32" and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["clhost.cli._compose", "clhost.experiment"])
        return context
    return multiprocessing.get_context("spawn")


__all__ = [
    "PLAN_NAME",
    "ROWS_NAME",
    "PlannedRun",
    "RunBusy",
    "RunOptions",
    "Spec",
    "SweepOutcome",
    "execute",
    "plan",
    "row",
    "run_sweep",
    "running",
    "write_rows",
    "write_tables",
]
