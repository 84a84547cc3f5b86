"""What a new user hit first: misleading names, piles of dead progress bars, bad hints."""

from __future__ import annotations

import io
import re
import warnings

import pytest
from click.testing import CliRunner

from clhost import registry
from clhost.cli import main
from clhost.cli._text import plain
from clhost.errors import closest
from clhost.evaluation.loggers import ProgressLogger
from clhost.experiment import RunResults


def invoke(*args: str, **kwargs):
    return CliRunner().invoke(main, list(args), **kwargs)


# -- closest matches -------------------------------------------------------------------


def test_closest_finds_names_that_begin_with_or_contain_what_was_typed():
    known = ["ewc", "gss-greedy", "replay", "er-ace", "der", "icarl"]
    assert closest("gss", known) == ["gss-greedy"]
    assert closest("greedy", known)[0] == "gss-greedy"
    assert closest("replya", known) == ["replay"]  # spelling still counts
    assert closest("zzz", known) == []


def test_run_with_gss_suggests_gss_greedy():
    result = invoke("run", "--strategy", "gss", "--explain")
    assert result.exit_code == 1
    assert result.output == "Error: unknown strategy 'gss'; did you mean 'gss-greedy'?\n"


# -- CLHOST_PLUGINS ----------------------------------------------------------------------


def test_an_allow_list_name_matching_no_distribution_is_reported(monkeypatch):
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "clhost-ewc, clhost-replya")
    with pytest.warns(registry.AllowListWarning) as caught:
        found = registry.scan("strategy")
    assert [entry.name for entry in found.entries] == ["ewc"]
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("CLHOST_PLUGINS names 'clhost-replya', but no installed")
    assert "did you mean 'clhost-replay'" in message


def test_a_correct_allow_list_warns_nothing(monkeypatch):
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "clhost-ewc,clhost,CLHOST_Replay")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.scan()


def test_the_cli_shows_an_allow_list_typo_as_one_warning_line(monkeypatch):
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "clhost-replya")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        result = invoke("list", "strategies")
    assert result.exit_code == 0
    warning = [line for line in result.output.splitlines() if line.startswith("Warning: ")]
    assert len(warning) >= 1 and "'clhost-replya'" in warning[0]
    assert "Traceback" not in result.output and "registry.py" not in result.output


# -- progress bars -----------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def visible_lines(output: str) -> list[str]:
    """What a terminal shows: a carriage return moves back to the start of the line,
    ESC[K erases from there on; cursor show/hide codes print nothing."""
    screen = []
    for line in re.sub(r"\x1b\[\?25[lh]", "", output).split("\n"):
        shown: list[str] = []
        cursor = 0
        for piece in re.split(r"(\r|\x1b\[K)", line):
            if piece == "\r":
                cursor = 0
            elif piece == "\x1b[K":
                del shown[cursor:]
            else:
                shown[cursor : cursor + len(piece)] = piece
                cursor += len(piece)
        screen.append("".join(shown))
    return [line for line in screen if line.strip()]


def test_finished_progress_bars_do_not_pile_up_on_a_terminal():
    terminal = Terminal()
    logger = ProgressLogger(terminal)
    assert logger.shows_progress
    for phase in range(36):
        logger.start_progress(f"train exp {phase}", 5)
        logger.advance(5)
        logger.end_progress()
    assert "train exp 35" in terminal.getvalue()  # each bar was drawn ...
    assert visible_lines(terminal.getvalue()) == []  # ... and erased once finished
    logger.start_progress("eval test", 2)
    logger.advance()
    assert len(visible_lines(terminal.getvalue())) == 1  # the running bar stays visible
    logger.close()


def test_progress_off_a_terminal_ends_its_lines():
    stream = io.StringIO()
    logger = ProgressLogger(stream, enabled=True)
    logger.start_progress("train exp 0", 2)
    logger.advance(2)
    logger.end_progress()
    assert stream.getvalue().endswith("\n") and "\x1b[K" not in stream.getvalue()


# -- clhost new-plugin -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, taken",
    [
        ("replay", "clhost-replay is a first-party distribution"),
        ("clhost-EWC", "clhost-ewc is a first-party distribution"),
        ("gss-greedy", "strategy 'gss-greedy' (clhost-gss) is already registered"),
    ],
)
def test_new_plugin_refuses_a_name_already_taken(tmp_path, name, taken):
    result = invoke("new-plugin", name, "-d", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.startswith("Error: plugin name ") and taken in result.output
    assert result.output.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_new_plugin_prints_steps_for_the_interpreter_it_runs_with(tmp_path):
    parent = tmp_path / "my plugins"
    parent.mkdir()
    result = invoke("new-plugin", "l2-anchor-steps", "-d", str(parent))
    assert result.exit_code == 0, result.output
    root = parent / "clhost-l2-anchor-steps"
    assert result.output.splitlines()[1:] == [
        f"  python -m pip install -e '{root}'",
        f"  python -m pytest '{root / 'tests'}'",
        "  clhost info l2-anchor-steps",
    ]


# -- clhost hooks text -------------------------------------------------------------------


def test_plain_drops_restructuredtext_markup():
    text = "Calls ``strategy.train()`` on :class:`~clhost.data.Stream` via :meth:`Foo.bar`::"
    assert plain(text) == "Calls strategy.train() on Stream via Foo.bar:"


def test_info_shows_documentation_without_restructuredtext_markup():
    output = invoke("info", "replay", "--kind", "plugin").output
    assert "``" not in output
    assert "defaults to an adaptive ExperienceBalancedBuffer(mem_size)" in output


# -- the summary of a single training step -----------------------------------------------


def test_a_single_training_step_prints_no_nan_or_transfer():
    joint = RunResults(
        strategy="JointTraining",
        benchmark="split-digits",
        accuracy_matrix=[[0.9, 0.8, 0.7]],
        initial_accuracy=[0.0, 0.1, 0.0],
    )
    text = joint.summary()
    assert "nan" not in text
    for name in ("Forgetting", "BWT", "FWT"):
        assert re.search(rf"^{name} +n/a \(one training step\)$", text, flags=re.M)
    assert "Average accuracy  0.8000 (all 3 test experiences)\n" in text
    continual = RunResults(
        strategy="Naive", benchmark="b", accuracy_matrix=[[0.9, 0.0], [0.5, 0.9]]
    ).summary()
    assert "Forgetting        0.4000" in continual and "n/a" not in continual
