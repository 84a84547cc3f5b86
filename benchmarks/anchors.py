"""The accuracy gate: every strategy's final accuracy on the embedded benchmarks must stay
within its band in ``benchmarks/anchors.toml``.

Each anchor is the final average accuracy (``results.average_accuracy``) of ``clhost run
--strategy NAME --benchmark BENCHMARK --seed S`` with every other option at its default,
for the seeds of the file (a strategy's ``params`` table, where present, says what it
changes and why). The gate reruns the same seeds, so a run on the same platform gives the
same numbers; the band, ``mean - tolerance``, absorbs the numerical differences between
machines and torch builds: ``tolerance = max(MIN_TOLERANCE, std over the seeds)``.

    python benchmarks/anchors.py                      # check every anchor, every seed
    python benchmarks/anchors.py --seeds 0 --skip-slow   # CI: nox -s anchors
    python benchmarks/anchors.py --strategies replay,ewc
    python benchmarks/anchors.py --measure            # measure again and rewrite the file
    python benchmarks/anchors.py --measure --strategies new-one   # add or renew one
    (on purpose only, with the reason in the commit)

A drop below the band fails, naming the strategy and benchmark; a rise above ``mean +
tolerance`` is reported (an improvement to record on purpose) but passes.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ANCHORS = Path(__file__).with_name("anchors.toml")
BENCHMARKS = ("split-digits", "permuted-digits")
SEEDS = (0, 1, 2)
MIN_TOLERANCE = 0.03
# a strategy whose defaults are sized for real runs and would dominate the gate
PARAMS: dict[str, dict[str, str]] = {
    "ranpac": {"projection_size": "256"},  # default 10000: a 10000 x 10000 ridge system
}
PARAMS_REASON = {"ranpac": "the default projection (10000) takes over ten minutes a run"}
# left out by --skip-slow (CI), each many times the cost of the others; measured on Split
# Digits only (Permuted Digits has five times the training samples)
_VIT = "a ViT on 8x8 digits, at chance level: its anchor only says that it still runs"
_META = "a meta-learning update per sample or small batch"
SLOW = {
    "coda-prompt": _VIT,
    "dualprompt": _VIT,
    "l2p": _VIT,
    "lamaml": _META,
    "lamaml-v2": _META,
    "mer": _META,
    "ranpac": "20 epochs of first-session adaptation, then a ridge regression per experience",
}


@dataclass(frozen=True)
class Anchor:
    """What ``strategy`` scored on ``benchmark``: one final accuracy per seed."""

    strategy: str
    benchmark: str
    seeds: tuple[int, ...]
    values: tuple[float, ...]
    params: Mapping[str, str]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def tolerance(self) -> float:
        spread = statistics.stdev(self.values) if len(self.values) > 1 else 0.0
        return max(MIN_TOLERANCE, spread)

    def expected(self, seeds: Sequence[int]) -> float:
        """The anchor's mean over ``seeds`` (a subset of its own)."""
        missing = sorted(set(seeds) - set(self.seeds))
        if missing:
            raise SystemExit(f"{self.strategy} on {self.benchmark}: no anchor for seeds {missing}")
        return statistics.fmean(self.values[self.seeds.index(s)] for s in seeds)


def read(path: Path = ANCHORS) -> list[Anchor]:
    document = tomllib.loads(path.read_text())
    anchors = []
    for strategy, table in document["strategies"].items():
        params = {k: str(v) for k, v in table.get("params", {}).items()}
        for benchmark in (b for b in document["benchmarks"] if b in table):
            values = tuple(float(v) for v in table[benchmark])
            anchors.append(Anchor(strategy, benchmark, tuple(document["seeds"]), values, params))
    return anchors


def measure(
    strategy: str,
    benchmark: str,
    seeds: Sequence[int],
    params: Mapping[str, str],
    *,
    jobs: int = 0,
    echo: Callable[[str], object] = print,
) -> list[float]:
    """Final accuracy of ``clhost run``'s composition for each seed (a sweep of one
    strategy, in a scratch directory)."""
    from clhost.cli._options import RunOptions, Spec
    from clhost.sweep import plan, run_sweep

    base = RunOptions(strategy=Spec(strategy, dict(params)), benchmark=Spec(benchmark))
    with tempfile.TemporaryDirectory(prefix="clhost-anchors-") as scratch:
        runs = plan(base, scratch, strategies=[strategy], seeds=seeds)
        outcome = run_sweep(runs, scratch, jobs=jobs, echo=lambda line: None)
    if outcome.failed:
        raise RuntimeError(f"{strategy} on {benchmark}: {next(iter(outcome.failed.values()))}")
    by_seed = {row["seed"]: _accuracy(row["final_accuracy"]) for row in outcome.rows}
    return [by_seed[seed] for seed in seeds]


def _accuracy(final: float | None) -> float:
    """A run without a final accuracy (nothing evaluated) measures NaN, which fails."""
    return math.nan if final is None else final


@dataclass(frozen=True)
class Verdict:
    anchor: Anchor
    measured: float
    expected: float

    @property
    def low(self) -> float:
        return self.expected - self.anchor.tolerance

    @property
    def failed(self) -> bool:
        return math.isnan(self.measured) or self.measured < self.low

    @property
    def improved(self) -> bool:
        return self.measured > self.expected + self.anchor.tolerance

    def line(self) -> str:
        state = "FAIL" if self.failed else "improved" if self.improved else "ok"
        return (
            f"{state:<8} {self.anchor.strategy:<22} {self.anchor.benchmark:<16} "
            f"{self.measured:.4f} (anchor {self.expected:.4f}, band >= {self.low:.4f})"
        )


def check(
    anchors: Sequence[Anchor],
    seeds: Sequence[int],
    *,
    measure_with: Callable[..., list[float]] = measure,
    echo: Callable[[str], object] = print,
) -> list[Verdict]:
    """Measure each anchor again on ``seeds``; one ``Verdict`` each, printed as it comes."""
    verdicts = []
    for anchor in anchors:
        values = measure_with(anchor.strategy, anchor.benchmark, seeds, anchor.params)
        verdict = Verdict(anchor, statistics.fmean(values), anchor.expected(seeds))
        echo(verdict.line())
        verdicts.append(verdict)
    return verdicts


def render(measured: Mapping[str, Mapping[str, Sequence[float]]], seeds: Sequence[int]) -> str:
    """``anchors.toml`` for ``measured[strategy][benchmark]`` (a value per seed)."""
    import torch

    lines = [
        "# The accuracy gate (benchmarks/anchors.py): final average accuracy of",
        "# `clhost run --strategy NAME --benchmark BENCHMARK --seed S` with every other option",
        "# at its default, per seed. Measured with `python benchmarks/anchors.py --measure`",
        f"# (torch {torch.__version__}, CPU). Update only on purpose, with the reason in the",
        "# commit. The band of each strategy and benchmark is mean - max("
        f"{MIN_TOLERANCE}, std over the seeds).",
        f"seeds = {list(seeds)}",
        f"benchmarks = {list(BENCHMARKS)}",
        "",
    ]
    for strategy, by_benchmark in measured.items():
        lines.append(f"[strategies.{strategy}]")
        if strategy in SLOW:
            lines.append(f"# slow: {SLOW[strategy]}")
        if strategy in PARAMS:
            lines.append(f"# {PARAMS_REASON[strategy]}")
            params = ", ".join(f'{k} = "{v}"' for k, v in PARAMS[strategy].items())
            lines.append(f"params = {{ {params} }}")
        for benchmark, values in by_benchmark.items():
            listed = ", ".join(f"{v:.4f}" for v in values)
            lines.append(f"{benchmark} = [{listed}]  # mean {statistics.fmean(values):.4f}")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", help="a subset of the anchors' seeds, e.g. 0")
    parser.add_argument("--strategies", help="only these, comma-separated")
    parser.add_argument("--skip-slow", action="store_true", help=f"not {', '.join(SLOW)}")
    parser.add_argument("--benchmarks", help="with --measure: only these, comma-separated")
    parser.add_argument("--measure", action="store_true", help=f"rewrite {ANCHORS.name}")
    parser.add_argument("--file", type=Path, default=ANCHORS)
    args = parser.parse_args(argv)
    chosen = set(args.strategies.split(",")) if args.strategies else None
    start = time.perf_counter()
    if args.measure:
        benchmarks = args.benchmarks.split(",") if args.benchmarks else BENCHMARKS
        return _measure_all(args.file, chosen, benchmarks, start)
    anchors = [a for a in read(args.file) if chosen is None or a.strategy in chosen]
    anchors = [a for a in anchors if not (args.skip_slow and a.strategy in SLOW)]
    if chosen and chosen - {a.strategy for a in anchors}:
        raise SystemExit(
            f"no anchor for {', '.join(sorted(chosen - {a.strategy for a in anchors}))}"
        )
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(anchors[0].seeds)
    verdicts = check(anchors, seeds)
    failed = [f"{v.anchor.strategy} on {v.anchor.benchmark}" for v in verdicts if v.failed]
    print(f"{len(verdicts)} anchors, seeds {seeds}, in {time.perf_counter() - start:.0f} s")
    if failed:
        print(f"below the band: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _measure_all(
    path: Path, chosen: set[str] | None, benchmarks: Sequence[str], start: float
) -> int:
    from clhost import registry

    names = [e.name for e in registry.list_entries("strategy")]
    measured: dict[str, dict[str, list[float]]] = {}
    if path.exists():  # the anchors not measured now stay as they are
        for anchor in read(path):
            measured.setdefault(anchor.strategy, {})[anchor.benchmark] = list(anchor.values)
    for name in names:
        if chosen is not None and name not in chosen:
            continue
        for benchmark in benchmarks:
            if name in SLOW and benchmark != BENCHMARKS[0]:
                continue  # the slow ones: Split Digits only
            began = time.perf_counter()
            try:
                values = measure(name, benchmark, SEEDS, PARAMS.get(name, {}))
            except RuntimeError as error:  # recorded without this anchor, and said so
                print(f"{name:<22} {benchmark:<16} FAILED: {error}")
                continue
            measured.setdefault(name, {})[benchmark] = values
            print(f"{name:<22} {benchmark:<16} {values} {time.perf_counter() - began:.1f} s")
    from clhost._atomic import atomic_write_text

    order = [n for n in names if n in measured] + sorted(set(measured) - set(names))
    ordered = {n: {b: measured[n][b] for b in BENCHMARKS if b in measured[n]} for n in order}
    atomic_write_text(path, render(ordered, SEEDS))
    print(f"{path} written in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
