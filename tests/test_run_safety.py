"""Runs that cannot be lost or silently wrong: a resume is refused, changing nothing on
disk, under any option that changes results; --resume needs a run; an unusable output
directory is one line before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from _safety_parts import (
    BASE,
    PARTS,
    assert_one_line_error,
    contents,
    fake_site,  # noqa: F401 (autouse: only the fake distribution)
    invoke,
)

import clhost._atomic as atomic
from clhost._description import describe_experiment, differences
from clhost.benchmarks import split_digits
from clhost.checkpoint import load_checkpoint
from clhost.errors import CheckpointError, ParameterError
from clhost.experiment import run_experiment
from clhost.models import SimpleMLP
from clhost.templates import SupervisedTemplate


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-experience run."""
    output = tmp_path_factory.mktemp("runs") / "finished"
    result = invoke("run", *BASE, "-o", output, "-q")
    assert result.exit_code == 0, result.output
    return output


# -- a resume is refused under any option that changes results, and changes nothing ---


@pytest.mark.parametrize(
    "option, named",
    [
        (["--benchmark", "split-digits:n_experiences=5"], "benchmark.train has 2 entries"),
        (["--benchmark", "split-digits:n_experiences=2,seed=1"], "benchmark.train[0].classes"),
        (["--validation", "0.1"], "benchmark.train[0].samples"),
        (["--seed", "1"], "settings.seed 0 in the checkpoint, 1 now"),
        (["--model", "mlp:hidden_sizes=16"], "model.layers"),
        (["--optimizer", "adam"], "optimizer is torch.optim.sgd.SGD in the checkpoint"),
        (["--lr", "0.2"], "optimizer.lr 0.05 in the checkpoint, 0.2 now"),
        (["--epochs", "2"], "strategy.train_epochs 1 in the checkpoint, 2 now"),
        (["--batch-size", "16"], "strategy.train_mb_size 32 in the checkpoint, 16 now"),
        (["-p", "alpha=2"], "strategy.alpha 1.0 in the checkpoint, 2.0 now"),
        (["--strategy", "naive"], "strategy 'fakesafety_parts.Scaled' in the checkpoint"),
        (["--plugin", "anchor:strength=2"], "plugins[0].strength 0.5 in the checkpoint, 2.0 now"),
        (["--loss", "smoothed"], "components"),
    ],
)
def test_a_resume_under_other_results_is_refused_and_changes_nothing(finished, option, named):
    before = contents(finished)
    result = invoke("run", "-o", finished, "--resume", *option)
    assert_one_line_error(result, "belongs to another experiment", named)
    assert contents(finished) == before  # options.json included: the run stays resumable


def test_options_that_do_not_change_results_may_differ(finished):
    before = contents(finished)
    result = invoke("run", "-o", finished, "--resume", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert f"Resuming {finished}/: all 2 experiences are done" in result.stderr
    assert contents(finished)["options.json"] == before["options.json"]


def build(strength=0.5, epochs=1):
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(32,))
    anchor = __import__(PARTS).Anchor(strength=strength)
    return SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        train_epochs=epochs,
        plugins=[anchor],
    )


def test_the_python_api_refuses_another_experiment_too(tmp_path):
    digits2, output = split_digits(n_experiences=2), tmp_path / "run"
    run_experiment(build(), digits2, output_dir=output, settings={"seed": 1})
    before = contents(output)
    refused = [
        (build(strength=1.0), digits2, {"seed": 1}, r"plugins\[0\].strength 0.5 in the che"),
        (build(epochs=3), digits2, {"seed": 1}, "strategy.train_epochs 1 in the checkpoint, 3"),
        (build(), split_digits(5), {"seed": 1}, "benchmark.train has 2 entries in the checkp"),
        (build(), split_digits(2, seed=3), {"seed": 1}, r"benchmark.train\[0\].classes"),
        (build(), digits2, {"seed": 2}, "settings.seed 1 in the checkpoint, 2 now"),
    ]
    for strategy, benchmark, settings, message in refused:
        with pytest.raises(CheckpointError, match=message):
            run_experiment(strategy, benchmark, output_dir=output, resume=True, settings=settings)
        assert strategy.clock.train_iterations == 0
    assert contents(output) == before
    # a direct load checks the recorded description as well (settings only when given)
    checkpoint = output / "checkpoint.pt"
    with pytest.raises(CheckpointError, match=r"plugins\[0\].strength"):
        load_checkpoint(build(strength=2.0), checkpoint, benchmark=digits2)
    assert load_checkpoint(build(), checkpoint, benchmark=digits2) == 2


# -- --resume needs a run, and says where it continues -------------------------------


@pytest.mark.parametrize("make", [lambda d: None, lambda d: d.mkdir()])
def test_resume_without_a_run_is_an_error(tmp_path, make):
    output = tmp_path / "nothing"
    make(output)
    before = contents(output)
    result = invoke("run", *BASE, "-o", output, "--resume")
    assert_one_line_error(result, f"--output {output} holds no run to resume")
    assert contents(output) == before


def test_resume_of_results_without_a_checkpoint_is_an_error(tmp_path, finished):
    output = tmp_path / "copy"
    output.mkdir()
    (output / "results.json").write_bytes((finished / "results.json").read_bytes())
    result = invoke("run", "-o", output, "--resume")
    assert_one_line_error(result, "holds results but no checkpoint")


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tmp_path, finished):
    output = tmp_path / "early"
    output.mkdir()
    (output / "options.json").write_bytes((finished / "options.json").read_bytes())
    result = invoke("run", "-o", output, "--resume")
    assert result.exit_code == 0, result.output
    assert f"Resuming {output}/: no experience was finished: starting with experience 0" in (
        result.stderr
    )
    expected = json.loads((finished / "results.json").read_text())["accuracy_matrix"]
    assert json.loads((output / "results.json").read_text())["accuracy_matrix"] == expected
    quiet = invoke("run", "-o", output, "--resume", "-q")
    assert quiet.exit_code == 0 and "Resuming" not in quiet.output


# -- an unusable output directory: one line, nothing written ---------------------------


def read_only(directory, monkeypatch):
    """A directory this process cannot write to (simulated where root ignores modes)."""
    directory.mkdir()
    directory.chmod(0o555)
    if os.geteuid() == 0:
        real = os.access
        monkeypatch.setattr(
            atomic.os,
            "access",
            lambda p, mode: real(p, mode) and not (str(p) == str(directory) and mode & os.W_OK),
        )
    return directory


@pytest.fixture
def unusable(tmp_path, monkeypatch):
    file = tmp_path / "file"
    file.write_text("not a directory")
    locked = read_only(tmp_path / "locked", monkeypatch)
    cases = {
        "a file": (file, "not a directory"),
        "under a file": (file / "run", f"{file} is not a directory"),
        "read-only": (locked, "is not writable"),
        "under a read-only directory": (locked / "run", f"nor can it be created in {locked}"),
        "a null byte": (tmp_path / "a\x00b", "is not a usable path"),
    }
    yield cases
    locked.chmod(0o755)


@pytest.mark.parametrize(
    "case", ["a file", "under a file", "read-only", "under a read-only directory", "a null byte"]
)
def test_an_unusable_output_is_one_line_and_writes_nothing(tmp_path, unusable, case):
    path, message = unusable[case]
    config = tmp_path / "run.toml"
    config.write_text(f"output = {json.dumps(str(path))}\n")
    before = contents(tmp_path)
    assert_one_line_error(invoke("run", *BASE, "--config", config), message)
    if "\x00" not in str(path):  # a command line cannot hold a null byte
        for args in (["-o", path], ["-o", path, "--resume"], ["--explain", "-o", path]):
            assert_one_line_error(invoke("run", *BASE, *args), message)
        assert_one_line_error(invoke("new-plugin", "my-method", "-d", path), message)
    assert contents(tmp_path) == before


def test_run_experiment_refuses_an_unusable_output_before_training(tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    strategy = build()
    with pytest.raises(ParameterError, match="output_dir .* not a directory"):
        run_experiment(strategy, split_digits(n_experiences=2), output_dir=file / "run")
    assert strategy.clock.train_iterations == 0


def test_a_write_that_fails_later_is_one_line(tmp_path, monkeypatch):
    def full(path, write):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("clhost._atomic.atomic_write", full)
    monkeypatch.setattr("clhost.checkpoint.atomic_write", full)
    result = invoke("run", *BASE, "-o", tmp_path / "run", "-q")
    assert_one_line_error(result, "No space left on device")


# -- leftovers of a killed write -------------------------------------------------------


def test_a_leftover_temporary_file_neither_confuses_nor_stays(tmp_path, finished):
    output = tmp_path / "run"
    output.mkdir()  # a run killed while writing its first checkpoint
    (output / "options.json").write_bytes((finished / "options.json").read_bytes())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = output / f".checkpoint.pt.{dead}.0a1b2c3d.tmp"
    live = output / f".checkpoint.pt.{os.getpid()}.0a1b2c3d.tmp"  # a writer still running
    stale.write_bytes(b"half a checkpoint")
    live.write_bytes(b"another writer's checkpoint")
    result = invoke("run", "-o", output, "--resume", "-q")
    assert result.exit_code == 0, result.output
    expected = json.loads((finished / "results.json").read_text())["accuracy_matrix"]
    assert json.loads((output / "results.json").read_text())["accuracy_matrix"] == expected
    assert not stale.exists() and live.exists()


@pytest.mark.parametrize(
    "option, message",
    [
        (["--seed", str(2**64)], "seed must be between -2**63 and 2**64 - 1"),
        (["--seed", str(-(2**63) - 1)], "seed must be between"),
        (["--lr", "nan"], "lr must be a positive number, got nan"),
        (["--lr", "inf"], "lr must be a positive number, got inf"),
    ],
)
def test_numbers_out_of_range_are_one_line(tmp_path, option, message):
    output = tmp_path / "run"
    assert_one_line_error(invoke("run", *BASE, *option, "-o", output), message)
    assert not output.exists()


class Memory:
    def __init__(self, max_size: int):
        self.max_size = max_size


class Rehearsal:
    """Keeps what it is given under other names, as plugins do."""

    def __init__(self, mem_size: int = 10, weights: tuple[float, ...] = (1.0,)):
        self.memory, self._values = Memory(mem_size), list(weights)


def test_what_a_plugin_built_from_its_parameters_is_compared_too():
    def described(**kwargs):
        strategy = build()
        strategy.plugins = [Rehearsal(**kwargs)]
        return describe_experiment(strategy)

    assert differences(described(), described()) == []
    assert differences(described(), described(mem_size=20)) == [
        "plugins[0].memory.max_size 10 in the checkpoint, 20 now"
    ]
    assert differences(described(), described(weights=(0.5,))) == [
        "plugins[0]._values [1.0] in the checkpoint, [0.5] now"
    ]
