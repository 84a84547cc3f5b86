"""Run the Avalanche-style scripts under the layer in this process, and read the
reference Avalanche recorded for them (``benchmarks/avalanche_dropin.py --record``)."""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clhost_avalanche._finder import AvalancheFinder, install

SCRIPTS = Path(__file__).parent / "scripts"
REFERENCE = Path(__file__).parent / "data" / "avalanche_reference.json"


@pytest.fixture
def avalanche_hook() -> Iterator[None]:
    """The import hook for one test; ``sys`` is left as it was found."""
    saved_path, saved_argv, saved_meta = list(sys.path), list(sys.argv), list(sys.meta_path)
    before = set(sys.modules)
    install()
    try:
        yield
    finally:
        sys.meta_path[:] = [f for f in saved_meta if not isinstance(f, AvalancheFinder)]
        sys.path[:], sys.argv[:] = saved_path, saved_argv
        for name in set(sys.modules) - before:
            if name == "avalanche" or name.startswith("avalanche.") or name == "_data":
                del sys.modules[name]


class ScriptOutput:
    """A script's tagged lines: ``json(tag)`` for ``TAG <json>``, ``accuracy(name)`` for
    ``RESULT <name> <accuracy> <seconds>``."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def json(self, tag: str) -> object:
        return next(
            json.loads(line[len(tag) + 1 :]) for line in self.lines if line.startswith(tag + " ")
        )

    def accuracy(self, name: str) -> float:
        rows = [line.split() for line in self.lines if line.startswith("RESULT ")]
        return next(float(row[2]) for row in rows if row[1] == name)


@pytest.fixture
def run_script(
    avalanche_hook: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Callable[[str], ScriptOutput]:
    """Run ``scripts/<name>.py 0 <tmp_path>`` as ``__main__`` under the layer."""

    def run(name: str) -> ScriptOutput:
        script = SCRIPTS / f"{name}.py"
        sys.argv[:] = [str(script), "0", str(tmp_path)]
        sys.path.insert(0, str(SCRIPTS))
        capsys.readouterr()
        runpy.run_path(str(script), run_name="__main__")
        return ScriptOutput(capsys.readouterr().out)

    return run


@pytest.fixture(scope="session")
def reference() -> dict:
    """What Avalanche 0.6.0 printed for the scripts (seed 0)."""
    return json.loads(REFERENCE.read_text())
