"""Numeric blow-ups stop training with one NonFiniteError; the last good checkpoint stays."""

from __future__ import annotations

import math
import sys
from types import SimpleNamespace

import pytest
import torch
from _fake_distributions import make_distribution
from click.testing import CliRunner

from clhost import hookimpl, registry
from clhost.benchmarks import split_online
from clhost.checkpoint import load_checkpoint
from clhost.cli import main
from clhost.errors import ClhostError, NonFiniteError
from clhost.experiment import CHECKPOINT_NAME, RESULTS_NAME, run_experiment
from clhost.models import SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import OnlineSupervisedTemplate, SupervisedTemplate
from clhost.templates.finite import FiniteGuard
from clhost.testing import toy_benchmark


class PoisonLoss(SupervisedPlugin):
    """Adds a non-finite loss term at one iteration of one experience."""

    def __init__(self, experience: int, iteration: int, value: float = math.nan):
        self.experience, self.iteration, self.value = experience, iteration, value
        self.steps_after: list[int] = []

    @hookimpl
    def clhost_loss_terms(self, strategy):
        here = (strategy.clock.train_exp_counter, strategy.clock.train_exp_iterations)
        poisoned = here == (self.experience, self.iteration)
        return "poison", strategy.loss.new_tensor(self.value if poisoned else 0.0)

    @hookimpl
    def clhost_after_update(self, strategy):
        if strategy.clock.train_exp_counter == self.experience:
            self.steps_after.append(strategy.clock.train_exp_iterations)


class PoisonWeightsAtEnd(SupervisedPlugin):
    """Makes a weight infinite after the last step of one experience, where no loss sees it."""

    def __init__(self, experience: int):
        self.experience = experience
        self.consolidated: list[int] = []

    @hookimpl
    def clhost_after_training_epoch(self, strategy):
        if strategy.clock.train_exp_counter == self.experience:
            with torch.no_grad():
                strategy.model.classifier.bias[0] = math.inf

    @hookimpl
    def clhost_after_training_exp(self, strategy):
        self.consolidated.append(strategy.clock.train_exp_counter)


def make_strategy(plugins, *, epochs=2, template=SupervisedTemplate, evaluator=None):
    torch.manual_seed(0)
    model = SimpleMLP(6, 8, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    if template is OnlineSupervisedTemplate:
        return template(model=model, optimizer=optimizer, plugins=plugins, evaluator=None)
    return template(
        model=model,
        optimizer=optimizer,
        train_mb_size=10,
        train_epochs=epochs,
        plugins=plugins,
        evaluator=evaluator,
    )


def test_a_non_finite_loss_stops_training_with_one_clear_error():
    benchmark = toy_benchmark(n_experiences=2)  # 100 samples: 10 iterations an epoch
    poison = PoisonLoss(experience=1, iteration=13)
    strategy = make_strategy([poison])
    strategy.train(benchmark.train_stream[0])
    before = [p.detach().clone() for p in strategy.model.parameters()]
    with pytest.raises(NonFiniteError) as caught:
        strategy.train(benchmark.train_stream[1])
    error = caught.value
    assert isinstance(error, ClhostError)
    assert (error.experience, error.iteration) == (1, 13)
    assert error.strategy == "SupervisedTemplate (plugins: PoisonLoss)"
    message = str(error)
    assert "loss became nan at iteration 13 (epoch 1) of experience 1" in message
    assert "lower the learning rate" in message and "clip gradients" in message
    # on the CPU it stops before the poisoned step: the weights stayed finite
    assert poison.steps_after == list(range(13))
    assert all(torch.isfinite(p).all() for p in strategy.model.parameters())
    assert any(
        not torch.equal(a, p) for a, p in zip(before, strategy.model.parameters(), strict=True)
    )


def test_deferred_checking_reads_the_losses_at_the_end_of_the_epoch():
    """The accelerator mode, run on the CPU: the epoch runs to its end, then the error
    names the first iteration whose loss was not finite."""
    benchmark = toy_benchmark(n_experiences=2)
    poison = PoisonLoss(experience=0, iteration=14, value=math.inf)
    strategy = make_strategy([poison], epochs=3)
    strategy._finite_guard = FiniteGuard(deferred=True)
    with pytest.raises(NonFiniteError, match=r"loss became inf at iteration 14 \(epoch 1\)"):
        strategy.train(benchmark.train_stream[0])
    assert poison.steps_after == list(range(20))  # the second epoch ran to its end


def test_deferred_buffer_grows_past_its_first_size():
    guard, losses = FiniteGuard(deferred=True), torch.ones(600)
    losses[517], losses[550] = math.nan, math.inf
    guard.start_epoch()
    for loss in losses:
        guard.watch(SimpleNamespace(loss=loss))
    clock = SimpleNamespace(train_exp_iterations=600, train_exp_epochs=0)
    with pytest.raises(NonFiniteError) as caught:
        guard.end_epoch(SimpleNamespace(experience=None, plugins=(), clock=clock))
    assert caught.value.iteration == 517


def test_weights_are_checked_before_the_experience_is_consolidated():
    benchmark = toy_benchmark(n_experiences=2)
    poison = PoisonWeightsAtEnd(experience=1)
    strategy = make_strategy([poison], epochs=1)
    strategy.train(benchmark.train_stream[0])
    with pytest.raises(NonFiniteError, match=r"weights \('classifier.bias' first\)"):
        strategy.train(benchmark.train_stream[1])
    assert poison.consolidated == [0]


def test_the_online_template_checks_its_mini_experiences():
    stream = split_online(toy_benchmark(n_experiences=1).train_stream, experience_size=10)
    poison = PoisonLoss(experience=3, iteration=0)
    strategy = make_strategy([poison], template=OnlineSupervisedTemplate)
    with pytest.raises(NonFiniteError, match="iteration 0 .* of experience 3"):
        strategy.train(stream)


def test_the_online_template_checks_the_weights_once_per_train_call():
    stream = split_online(toy_benchmark(n_experiences=1).train_stream, experience_size=10)
    poison = PoisonWeightsAtEnd(experience=len(stream) - 1)
    strategy = make_strategy([poison], template=OnlineSupervisedTemplate)
    with pytest.raises(NonFiniteError, match=r"weights \('classifier.bias' first\)"):
        strategy.train(stream)
    assert poison.consolidated == list(range(len(stream) - 1))


def test_run_experiment_keeps_the_checkpoint_of_the_last_good_experience(tmp_path):
    benchmark = toy_benchmark(n_experiences=3)
    with pytest.raises(NonFiniteError):
        strategy = make_strategy([PoisonLoss(experience=2, iteration=3)], evaluator="default")
        run_experiment(strategy, benchmark, output_dir=tmp_path)
    assert not (tmp_path / RESULTS_NAME).exists()
    restored = make_strategy([PoisonLoss(experience=2, iteration=3)], evaluator="default")
    assert load_checkpoint(restored, tmp_path / CHECKPOINT_NAME, benchmark=benchmark) == 2
    assert all(torch.isfinite(p).all() for p in restored.model.parameters())


POISON_SOURCE = """
import math

import clhost
from clhost.plugin import SupervisedPlugin


class Poison(SupervisedPlugin):
    def __init__(self, experience: int = 1):
        self.experience = experience

    @clhost.hookimpl
    def clhost_loss_terms(self, strategy):
        poisoned = strategy.clock.train_exp_counter == self.experience
        return "poison", strategy.loss.new_tensor(math.nan if poisoned else 0.0)
"""


def test_cli_prints_one_line_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    site = tmp_path / "site"
    plugins = {"clhost.plugins": {"poison": "fakefinite_parts:Poison"}}
    make_distribution(site, "fake-finite", plugins, {"fakefinite_parts": POISON_SOURCE})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-finite")
    output = tmp_path / "run"
    args = ["run", "--plugin", "poison:experience=1", "--epochs", "1", "-q", "-o", str(output)]
    try:
        result = CliRunner().invoke(main, [*args, "--device", "cpu"])
    finally:
        sys.modules.pop("fakefinite_parts", None)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "loss became nan at iteration 0" in lines[0], lines
    assert "of experience 1" in lines[0]
    assert (output / CHECKPOINT_NAME).exists() and not (output / RESULTS_NAME).exists()
