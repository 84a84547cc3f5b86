"""A validation stream held out of the training data, and early stopping from the CLI."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from clhost.benchmarks import split_digits, with_validation_stream
from clhost.cli import main
from clhost.cli._compose import build
from clhost.cli._options import RunOptions, Spec
from clhost.errors import ParameterError
from clhost.experiment import run_experiment

TWO_EXPERIENCES = ("--benchmark", "split-digits:n_experiences=2", "--device", "cpu")


def _rows(data) -> set[tuple[float, ...]]:
    return {tuple(row.tolist()) for row in data.x}


def test_a_seeded_fraction_of_each_train_experience_is_held_out():
    original = split_digits(n_experiences=5, seed=0)
    held = with_validation_stream(original, 0.1, seed=3)
    valid = held.streams["valid"]
    assert len(valid) == len(held.train_stream) == 5
    for before, kept, out in zip(original.train_stream, held.train_stream, valid, strict=True):
        assert len(out) == round(0.1 * len(before)) and len(kept) + len(out) == len(before)
        assert out.origin_stream == "valid" and kept.origin_stream == "train"
        assert out.classes_in_this_experience == before.classes_in_this_experience
        assert not _rows(kept.dataset) & _rows(out.dataset)
        assert _rows(kept.dataset) | _rows(out.dataset) == _rows(before.dataset)
    assert held.test_stream is original.test_stream
    again = with_validation_stream(original, 0.1, seed=3).streams["valid"]
    other = with_validation_stream(original, 0.1, seed=4).streams["valid"]
    assert torch.equal(again[0].dataset.x, valid[0].dataset.x)
    assert not torch.equal(other[0].dataset.x, valid[0].dataset.x)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, True, "0.1"])
def test_a_fraction_outside_zero_and_one_is_refused(fraction):
    with pytest.raises(ParameterError, match="validation fraction"):
        with_validation_stream(split_digits(n_experiences=2), fraction)


def test_a_fraction_that_leaves_nothing_to_train_on_is_refused():
    with pytest.raises(ParameterError, match="leaves no training sample"):
        with_validation_stream(split_digits(n_experiences=2), 0.9999)


def test_validation_lets_early_stopping_stop_a_cli_run():
    options = RunOptions(
        plugins=[Spec("early-stopping", {"patience": "1"})],
        benchmark=Spec("split-digits", {"n_experiences": "2"}),
        epochs=30,
        validation=0.2,
        device="cpu",
    )
    composition = build(options)
    strategy = composition.strategy
    assert strategy.eval_every == 1
    assert [stream.name for stream in composition.eval_streams] == ["valid"]
    run_experiment(strategy, composition.benchmark, eval_streams=composition.eval_streams)
    stopper = strategy.plugins[0]
    assert stopper.history and stopper.stopped_at is not None
    assert strategy.clock.train_epochs < 2 * 30  # it stopped before the last epoch


def test_clhost_run_with_early_stopping_needs_and_takes_validation():
    runner = CliRunner()
    without = runner.invoke(main, ["run", *TWO_EXPERIENCES, "--plugin", "early-stopping", "-q"])
    assert without.exit_code == 1 and "--validation FRACTION" in without.output
    result = runner.invoke(
        main, ["run", *TWO_EXPERIENCES, "--plugin", "early-stopping", "--validation", "0.1", "-q"]
    )
    assert result.exit_code == 0, result.output
    explained = runner.invoke(main, ["run", "--validation", "0.25", "--explain"])
    assert "0.25 of each train experience held out as stream 'valid'" in explained.output


@pytest.mark.parametrize("value", ["0", "1", "x"])
def test_a_bad_validation_option_is_one_error(value):
    result = CliRunner().invoke(main, ["run", "--validation", value, "--explain"])
    assert result.exit_code == 2 and "Invalid value for '--validation'" in result.output


def test_validation_is_read_from_a_config_file(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("validation = 0.3\n")
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--explain"])
    assert "0.3 of each train experience held out" in result.output, result.output
    config.write_text("validation = 2\n")
    refused = CliRunner().invoke(main, ["run", "--config", str(config), "--explain"])
    assert refused.exit_code == 1
    assert refused.output == "Error: validation must be between 0 and 1, got 2\n"
