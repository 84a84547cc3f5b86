"""The Avalanche drop-in layer against real Avalanche 0.6.0, script by script.

Each Avalanche-style script of ``plugins/clhost-avalanche/tests/scripts`` runs twice per
seed, unchanged: under real Avalanche (``--avalanche-python``, the environment of
``benchmarks/README.md``) and under ``python -m clhost_avalanche`` (this interpreter).
Every ``RESULT <name> <stream accuracy> <seconds>`` line a script prints becomes a row:
the mean over seeds of both accuracies, their difference, and both times (seconds of
training and evaluation, measured inside the script). ``--record`` also writes what the
tests compare without Avalanche (the metric dictionary's keys, the generators' streams,
the loggers' output, the custom plugin's counts and the public names of the mirrored
modules and the keywords of every strategy, from Avalanche's runs of seed 0) into
``plugins/clhost-avalanche/tests/data/avalanche_reference.json``::

    python benchmarks/avalanche_dropin.py --seeds 3 --record
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "plugins" / "clhost-avalanche" / "tests" / "scripts"
REFERENCE = ROOT / "plugins" / "clhost-avalanche" / "tests" / "data" / "avalanche_reference.json"
NAMES = ("strategies", "more_strategies", "plugin", "generators", "metrics", "loggers", "names")
RECORDED = {
    "KEYS": "metrics_keys",
    "STREAMS": "streams",
    "LOGS": "logs",
    "PLUGIN": "plugin",
    "NAMES": "public_names",
    "SIGNATURES": "strategy_keywords",
}


def run(command: list[str], seed: int) -> list[str]:
    """The script's output lines (its working folder a fresh temporary one)."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(
            [*command, str(seed), folder], capture_output=True, text=True, env=env, check=False
        )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return done.stdout.splitlines()


def results(lines: list[str]) -> dict[str, tuple[float, float]]:
    rows = [line.split() for line in lines if line.startswith("RESULT ")]
    return {row[1]: (float(row[2]), float(row[3])) for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--avalanche-python", default="/work/avl-venv/bin/python")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--scripts", default=",".join(NAMES))
    parser.add_argument("--record", action="store_true", help=f"write {REFERENCE.name}")
    options = parser.parse_args()
    table: dict[tuple[str, str], list[list[float]]] = {}
    reference = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    for name in options.scripts.split(","):
        script = str(SCRIPTS / f"{name}.py")
        for seed in range(options.seeds):
            real = run([options.avalanche_python, script], seed)
            layer = run([sys.executable, "-m", "clhost_avalanche", script], seed)
            if seed == 0:
                for line in real:
                    tag, _, payload = line.partition(" ")
                    if tag in RECORDED:
                        reference[RECORDED[tag]] = json.loads(payload)
            ours = results(layer)
            for row, (accuracy, seconds) in results(real).items():
                table.setdefault((name, row), []).append(
                    [accuracy, ours[row][0], seconds, ours[row][1]]
                )
    print("| script | run | Avalanche acc | layer acc | diff | Avalanche s | layer s |")
    print("|---|---|---|---|---|---|---|")
    for (name, row), values in table.items():
        a, b, sa, sb = (sum(column) / len(values) for column in zip(*values, strict=True))
        print(f"| {name} | {row} | {a:.4f} | {b:.4f} | {b - a:+.4f} | {sa:.2f} | {sb:.2f} |")
    if options.record:
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
        print(f"wrote {REFERENCE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
