"""Every installed strategy runs from the CLI and resumes from a checkpoint exactly.

The strategies are the ``clhost.strategies`` entry points the registry finds when the tests
are collected, so a newly installed plugin distribution is covered without editing this file.
Each strategy is built by name exactly as ``clhost run`` builds it (``clhost.cli._compose``),
on a tiny setup: the default MLP, one epoch, two or three Split Digits experiences.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from clhost import registry
from clhost.cli import main
from clhost.cli._compose import build
from clhost.cli._options import RunOptions, Spec
from clhost.data import Benchmark
from clhost.experiment import run_experiment
from clhost.testing import Killed, kill_before

STRATEGIES = [entry.name for entry in registry.list_entries("strategy")]

# The only strategy parameters these tests set; every other strategy runs with its defaults.
PARAMS: dict[str, dict[str, str]] = {
    # CoPE's model outputs a p_size embedding; the default MLP has 10 outputs (one per digit)
    "cope": {"p_size": "10"},
    # speed only: these defaults are sized for real runs and dominate a one-epoch test
    "generative-replay": {"generator_epochs": "1"},  # 30 VAE epochs per experience
    "bic": {"stage_2_epochs": "2"},  # 200 bias-correction epochs per experience
    "gss-greedy": {"mem_strength": "1"},  # 5 memory gradients per scored sample
    # a 10000 x 10000 ridge system per experience; 20 epochs of first-session adaptation
    # (1 still checks that its scales and shifts resume)
    "ranpac": {"projection_size": "256", "adapt_epochs": "1"},
}

ACCURACY_HEADER = "Accuracy R[i][j] on test experience j after training experience i:"
NUMBER = r"\d\.\d{4}"


def trains_on_whole_stream(name: str) -> bool:
    """Joint training trains once on the whole stream instead of once per experience."""
    return getattr(registry.load("strategy", name), "trains_on_whole_stream", False)


def cli_arguments(name: str) -> list[str]:
    arguments = ["run", "--strategy", name, "--epochs", "1", "--seed", "0", "-q"]
    arguments += ["--benchmark", "split-digits:n_experiences=2"]
    for key, value in PARAMS.get(name, {}).items():
        arguments += ["-p", f"{key}={value}"]
    return arguments


@pytest.mark.parametrize("name", STRATEGIES)
def test_clhost_run_trains_and_prints_the_accuracy_matrix(name):
    result = CliRunner().invoke(main, cli_arguments(name))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert ACCURACY_HEADER in lines, result.output
    rows = re.findall(rf"^\s*after (\d)\s+{NUMBER}\s+{NUMBER}$", result.output, re.M)
    # a row per train() call (one per experience), a column per test experience
    assert rows == (["0"] if trains_on_whole_stream(name) else ["0", "1"]), result.output
    assert re.search(rf"^Average accuracy\s+{NUMBER}", result.output, re.M), result.output


def compose(name: str) -> tuple:
    """The strategy ``clhost run`` would build (seeded by ``--seed 0``), on the first three
    experiences of Split Digits (six classes)."""
    options = RunOptions(
        strategy=Spec(name, dict(PARAMS.get(name, {}))),
        benchmark=Spec("split-digits", {"n_experiences": "5"}),
        epochs=1,
        seed=0,
        device="cpu",
    )
    composition = build(options)
    digits = composition.benchmark
    benchmark = Benchmark(
        name="split-digits-3",
        train_stream=digits.train_stream[:3],
        test_stream=digits.test_stream[:3],
        n_classes=digits.n_classes,
        input_shape=digits.input_shape,
    )
    return composition.strategy, benchmark


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_run_killed_after_the_first_experience_resumes_exactly(name, tmp_path):
    strategy, benchmark = compose(name)
    uninterrupted = run_experiment(strategy, benchmark)

    killed, benchmark = compose(name)
    kill_before(killed, 1)
    with pytest.raises(Killed):
        run_experiment(killed, benchmark, output_dir=tmp_path)

    # A new process: generators in another state until the composition seeds them, a
    # brand-new strategy, and the checkpoint (none when the killed run trained once on the
    # whole stream: then the run starts over).
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(1234)
    resumed, benchmark = compose(name)
    results = run_experiment(resumed, benchmark, output_dir=tmp_path, resume=True)

    expected, actual = strategy.model.state_dict(), resumed.model.state_dict()
    diverged = [key for key, value in expected.items() if not torch.isfinite(value).all()]
    assert not diverged, f"{name}: the uninterrupted run diverged (non-finite {diverged})"
    assert actual.keys() == expected.keys()
    differing = [key for key in expected if not torch.equal(actual[key], expected[key])]
    assert not differing, f"{name}: weights differ after resuming: {differing}"
    assert results.accuracy_matrix == uninterrupted.accuracy_matrix
