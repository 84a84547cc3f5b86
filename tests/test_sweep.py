"""clhost sweep: the plan over strategies, values, orders and seeds; resuming a killed
sweep finishes only what was missing; rows, tables and the command line."""

from __future__ import annotations

import json
import os
import signal

import pytest
from click.testing import CliRunner

from clhost import sweep
from clhost.cli import main
from clhost.cli._options import RunOptions, Spec
from clhost.errors import ParameterError
from clhost.sweep import ROWS_NAME, execute, plan, run_sweep
from clhost.testing import Killed, kill_before

# five experiences, one epoch: a run takes a fraction of a second
BASE = RunOptions(benchmark=Spec("split-digits"), epochs=1, device="cpu")


def test_the_plan_crosses_strategies_values_orders_and_seeds(tmp_path):
    runs = plan(
        BASE,
        tmp_path,
        strategies=["replay", "ewc"],
        seeds=[0, 1],
        orders=[3],
        grid={"mem_size": ["200", "500"]},
    )
    # mem_size goes to replay only: EWC takes no memory
    assert [r.name for r in runs] == [
        "replay__mem_size=200__order=3__seed=0",
        "replay__mem_size=200__order=3__seed=1",
        "replay__mem_size=500__order=3__seed=0",
        "replay__mem_size=500__order=3__seed=1",
        "ewc__order=3__seed=0",
        "ewc__order=3__seed=1",
    ]
    first = runs[0].options
    assert first.strategy == Spec("replay", {"mem_size": "200"})
    assert first.benchmark == Spec("split-digits", {"seed": 3})  # the class order
    assert first.seed == 0 and first.epochs == 1
    assert first.output == str(tmp_path / runs[0].name)
    assert runs[-1].options.strategy == Spec("ewc", {})


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"strategies": ["ewc"], "grid": {"mem_size": ["1"]}}, "none of the strategies"),
        ({"strategies": ["replay"], "seeds": [0, 0]}, "0 given more than once"),
        ({"strategies": []}, "at least one strategy"),
        ({"strategies": ["replay"], "grid": {"mem_size": []}}, "no value"),
        ({"strategies": ["replya"]}, "replay"),  # the closest match
    ],
)
def test_impossible_plans_are_refused(tmp_path, keywords, message):
    with pytest.raises(Exception, match=message) as raised:
        plan(BASE, tmp_path, **keywords)
    assert isinstance(raised.value, ParameterError) or "Unknown" in type(raised.value).__name__


def test_a_killed_sweep_run_again_finishes_only_what_was_missing(tmp_path):
    runs = plan(BASE, tmp_path / "sweep", strategies=["naive"], seeds=[0, 1, 2])
    done, half, new = runs
    execute(done)  # finished before the sweep was killed
    with pytest.raises(Killed):  # killed after the checkpoint of its second experience
        execute(half, prepare=lambda strategy: kill_before(strategy, 2))
    assert (done.status(), half.status(), new.status()) == ("done", "partial", "new")
    finished = (done.directory / "results.json").read_bytes()

    said = []
    outcome = run_sweep(runs, tmp_path / "sweep", jobs=0, echo=said.append)
    assert said[0] == "1 of 3 runs already done, skipped"
    assert said[1].startswith(f"[1/2] {half.name}: final accuracy 0.")
    assert outcome.skipped == [done.name]
    assert outcome.ran == [half.name, new.name] and not outcome.failed
    assert (done.directory / "results.json").read_bytes() == finished  # not run again

    # the resumed run ends as one never interrupted
    alone = plan(BASE, tmp_path / "alone", strategies=["naive"], seeds=[1])[0]
    execute(alone)
    resumed = json.loads((half.directory / "results.json").read_text())
    uninterrupted = json.loads((alone.directory / "results.json").read_text())
    assert resumed["accuracy_matrix"] == uninterrupted["accuracy_matrix"]
    assert resumed["efficiency"]["forward_passes_per_sample"] == 1

    rows = [json.loads(line) for line in (tmp_path / "sweep" / ROWS_NAME).read_text().splitlines()]
    assert [r["run"] for r in rows] == [r.name for r in runs]
    assert rows[1]["final_accuracy"] == uninterrupted["average_accuracy"]
    curve = rows[1]["accuracy_curve"]
    assert len(curve) == 5 and rows[1]["average_incremental_accuracy"] == pytest.approx(
        sum(curve) / 5
    )
    table = (tmp_path / "sweep" / "summary.md").read_text().splitlines()
    assert table[2].startswith("| naive | 3 | ")

    again = run_sweep(runs, tmp_path / "sweep", jobs=0, echo=lambda line: None)
    assert again.skipped == [r.name for r in runs] and again.ran == []


def test_a_run_directory_made_with_other_options_is_refused(tmp_path):
    run = plan(BASE, tmp_path, strategies=["naive"])[0]
    execute(run)
    other = plan(RunOptions(epochs=2, device="cpu"), tmp_path, strategies=["naive"])[0]
    with pytest.raises(ParameterError, match="other options .*epochs"):  # not in its table
        run_sweep([other], tmp_path, jobs=0, echo=lambda line: None)
    (other.directory / "results.json").unlink()  # not finished: it would be resumed
    with pytest.raises(ParameterError, match="other options .*epochs"):
        execute(other)
    assert not (tmp_path / ROWS_NAME).exists()


def killed_at_seed_1(run):
    """The sweep's work in a worker, but the worker of seed 1 is killed (out of memory,
    say): module-level, so the worker process finds it by name."""
    if run.seed == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return REPORTING(run)


REPORTING = sweep._execute_reporting


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_a_killed_worker_is_one_failed_run_and_the_others_finish(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "_execute_reporting", killed_at_seed_1)
    options = RunOptions(benchmark=Spec("split-digits", {"n_experiences": "2"}), device="cpu")
    runs = plan(options, tmp_path, strategies=["naive"], seeds=[0, 1, 2])
    said = []
    outcome = run_sweep(runs, tmp_path, jobs=2, echo=said.append)
    assert outcome.failed == {runs[1].name: "its worker process was killed (SIGKILL)"}
    assert sorted(outcome.ran) == [runs[0].name, runs[2].name]
    assert f"{runs[1].name}: FAILED: its worker process was killed (SIGKILL)" in "\n".join(said)
    rows = [json.loads(line) for line in (tmp_path / ROWS_NAME).read_text().splitlines()]
    assert [r["run"] for r in rows] == [runs[0].name, runs[2].name]
    assert "| naive | 2 |" in (tmp_path / "summary.md").read_text()
    monkeypatch.undo()  # the killed worker's lock on its run went with it
    again = run_sweep(runs, tmp_path, jobs=0, echo=said.append)
    assert again.ran == [runs[1].name] and not again.busy


def test_a_run_another_sweep_is_running_is_skipped_in_one_line(tmp_path):
    runs = plan(BASE, tmp_path, strategies=["naive"], seeds=[0, 1])
    said = []
    with sweep.running(runs[0].directory):  # another sweep holds it while it trains
        outcome = run_sweep(runs, tmp_path, jobs=0, echo=said.append)
    assert outcome.busy == [runs[0].name] and outcome.ran == [runs[1].name]
    assert said[0] == f"[1/2] {runs[0].name}: skipped, another clhost sweep is running it"
    assert runs[0].status() == "new"  # nothing of it written by this sweep
    again = run_sweep(runs, tmp_path, jobs=0, echo=said.append)  # the lock went with it
    assert again.ran == [runs[0].name] and again.skipped == [runs[1].name]


def invoke(*args):
    return CliRunner().invoke(main, ["sweep", *args])


def test_the_command_runs_in_parallel_processes_and_skips_what_is_done(tmp_path):
    output = tmp_path / "s"
    arguments = ["--strategy", "naive,replay", "-p", "mem_size=50", "--seeds", "0"]
    arguments += ["--benchmark", "split-digits:n_experiences=2", "--epochs", "1"]
    arguments += ["--device", "cpu", "-j", "2", "-o", str(output)]
    first = invoke(*arguments)
    assert first.exit_code == 0, first.output
    assert "| naive | 1 |" in first.output and "| replay mem_size=50 | 1 |" in first.output
    rows = (output / ROWS_NAME).read_text().splitlines()
    assert [json.loads(r)["run"] for r in rows] == ["naive__seed=0", "replay__mem_size=50__seed=0"]
    # each run is a clhost run directory: it resumes (and reports) as one
    assert {"options.json", "checkpoint.pt", "results.json"} <= {
        p.name for p in (output / "naive__seed=0").iterdir()
    }

    listed = invoke(*arguments, "--dry-run")
    assert listed.output.split() == ["done", "naive__seed=0", "done", "replay__mem_size=50__seed=0"]
    again = invoke(*arguments)
    assert again.exit_code == 0 and "2 of 2 runs already done, skipped" in again.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--seeds", "0,x"], "--seeds: expected integers"),
        (["--strategy", "naive,"], "--strategy: expected NAME,NAME"),
        (["-p", "mem_size"], "expected key=value"),
        (["--orders", "1", "--benchmark", "split-digits:seed=2"], "give the class order once"),
        (["--benchmark", "split-digits:n_experiences=3"], "cannot split 10 classes"),
        (["--config"], "clhost sweep takes no loggers"),
    ],
)
def test_mistakes_are_one_line_before_anything_runs(tmp_path, arguments, message):
    if arguments == ["--config"]:  # loggers come only from a --config here
        config = tmp_path / "loggers.toml"
        config.write_text('loggers = ["csv"]\n')
        arguments = ["--config", str(config)]
    result = invoke(*arguments, "--epochs", "1", "-o", str(tmp_path / "s"))
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "s" / ROWS_NAME).exists()
