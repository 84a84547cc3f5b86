"""clhost run --logger: loggers chosen by name, their files under --output, appended on
resume, checked before anything runs."""

from __future__ import annotations

import json
import sys

import pytest
from _fake_distributions import make_distribution
from click.testing import CliRunner

from clhost import registry
from clhost.cli import main

MODULE = "fakelog_parts"
SOURCE = '''
from pathlib import Path
from typing import Literal

from clhost.evaluation import LineOutput, Logger
from clhost.evaluation.loggers import APPEND, Every, granularity


class PhaseLogger(Logger):
    """Writes the phase of each event, one a line."""

    resume_keywords = APPEND

    def __init__(
        self,
        path: Path = Path("phases.txt"),
        *,
        mode: Literal["w", "a"] = "w",
        every: Every = "experience",
    ):
        self.every = granularity(every)
        self._out = LineOutput(path, mode)

    def log(self, event):
        self._out.write(event.phase + "\\n")

    def close(self):
        self._out.close()


class TrackerLogger(Logger):
    """A tracker whose ``mode`` is not a file mode (W&B's): it declares no resume_keywords."""

    def __init__(self, *, mode: Literal["online", "offline"] = "online"):
        self.mode = mode
        if mode not in ("online", "offline"):
            raise ValueError(f"mode must be online or offline, got {mode!r}")
'''
SMALL = ["--benchmark", "split-digits:n_experiences=2", "--epochs", "2", "--device", "cpu", "-q"]


@pytest.fixture(autouse=True)
def site(tmp_path, monkeypatch):
    """Only the host and one fake logger distribution are visible."""
    site = tmp_path / "site"
    entry_points = {
        "clhost.loggers": {"phases": f"{MODULE}:PhaseLogger", "tracker": f"{MODULE}:TrackerLogger"}
    }
    make_distribution(site, "fake-log", entry_points, {MODULE: SOURCE})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-log")
    monkeypatch.chdir(tmp_path)
    yield site
    for module in [name for name in sys.modules if name.startswith("fakelog_")]:
        del sys.modules[module]


def invoke(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def lines(path):
    return path.read_text().splitlines()


def test_logger_files_go_under_output_and_a_resumed_run_appends(tmp_path):
    run = tmp_path / "run"
    absolute = tmp_path / "elsewhere" / "log.txt"
    first = invoke(
        "run",
        *SMALL,
        "-o",
        run,
        "--logger",
        "phases:every=epoch",
        "--logger",
        f"text:stream={absolute}",
    )
    assert first.exit_code == 0, first.output
    phases = lines(run / "phases.txt")  # the default file, under --output
    assert phases.count("train_epoch") == 4 and phases.count("train_exp") == 2
    assert phases[-1] == "run"
    assert lines(absolute)[-1].startswith("run after 2: average_accuracy=")
    saved = json.loads((run / "options.json").read_text())
    assert saved["loggers"] == ["phases:every=epoch", f"text:stream={absolute}"]

    # every experience is done: the resumed run only reports, appending its run event
    again = invoke("run", "-o", run, "--resume")
    assert again.exit_code == 0, again.output
    assert lines(run / "phases.txt") == [*phases, "run"]


def test_a_resumed_run_gives_only_the_declared_resume_keywords(tmp_path):
    run = tmp_path / "run"
    first = invoke("run", *SMALL, "-o", run, "--logger", "tracker")
    assert first.exit_code == 0, first.output
    again = invoke("run", "-o", run, "--resume")  # no mode="a" for a mode meaning else
    assert again.exit_code == 0, again.output


def test_a_config_file_names_loggers_and_explain_lists_them_without_writing(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('loggers = ["phases", { name = "text", stream = "log.txt" }]\n')
    explained = invoke("run", "--config", config, "-o", tmp_path / "run", "--explain")
    assert explained.exit_code == 0, explained.output
    assert "logger     phases (fakelog_parts:PhaseLogger from fake-log 1.0)" in explained.output
    assert "logger     text:stream=log.txt" in explained.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "phases.txt").exists()
    ran = invoke("run", *SMALL, "--config", config)
    assert ran.exit_code == 0, ran.output
    assert lines(tmp_path / "phases.txt")[-1] == "run"  # no --output: the current folder
    assert lines(tmp_path / "log.txt")[0].startswith("eval test exp 0 after 0: accuracy=")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("phasez", "unknown logger 'phasez'; did you mean 'phases'?"),
        ("phases:evry=epoch", "unknown parameter 'evry'; did you mean 'every'?"),
        ("phases:every=batch", "'every' expects one of 'experience', 'epoch', 'iteration'"),
        ("phases:mode=r", "'mode' expects one of 'w', 'a', got 'r'"),
        ("phases:path=", "'path' expects Path, got ''"),
    ],
)
def test_bad_loggers_are_one_clear_error_before_anything_runs(tmp_path, spec, message):
    result = invoke("run", *SMALL, "-o", tmp_path / "run", "--logger", spec)
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run" / "options.json").exists()


def test_check_holds_loggers_to_the_contract(site, monkeypatch):
    source = '''
from pathlib import Path


class NotALogger:
    """Writes nothing."""

    def __init__(self, path: Path = Path("x")):
        self.path = path
'''
    make_distribution(
        site,
        "clhost-bad-log",
        {"clhost.loggers": {"not-a-logger": "fakelog_bad:NotALogger"}},
        {"fakelog_bad": source},
    )
    make_distribution(
        site,
        "clhost-misplaced-log",
        {"clhost.loggers": {"misplaced": f"{MODULE}:PhaseLogger"}},
    )
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-log,clhost-bad-log,clhost-misplaced-log")
    result = invoke("check", "logger")
    assert result.exit_code == 1
    assert "is not a subclass of Logger" in result.output
    assert f"is defined in {MODULE}, not in the logger.py module of its package" in result.output
    assert "phases" not in result.output  # a third-party name outside clhost-*: no layout
