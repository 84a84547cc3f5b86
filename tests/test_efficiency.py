"""The efficiency record of a run: each field means what docs/metrics.md says."""

from __future__ import annotations

import math
import time

import pytest
import torch

from clhost import hookimpl
from clhost.cli._compose import build
from clhost.cli._options import RunOptions, Spec
from clhost.evaluation.efficiency import MEASURED, peak_host_memory, state_bytes
from clhost.experiment import run_experiment

DIGITS = Spec("split-digits", {"n_experiences": "2"})


def run(strategy="naive", epochs=1, **extra):
    options = RunOptions(
        strategy=Spec(strategy, dict(extra.pop("params", {}))),
        benchmark=DIGITS,
        epochs=epochs,
        device="cpu",
        **extra,
    )
    composition = build(options)
    results = run_experiment(
        composition.strategy, composition.benchmark, eval_streams=composition.eval_streams
    )
    return composition.strategy, results


@pytest.mark.parametrize("epochs", [1, 2])
def test_finetuning_passes_each_sample_once_per_epoch(epochs):
    strategy, results = run(epochs=epochs)
    cost = results.efficiency
    assert cost["forward_passes_per_sample"] == epochs
    assert cost["backward_passes_per_sample"] == epochs
    assert cost["parameters"] == sum(p.numel() for p in strategy.model.parameters())
    assert cost["buffer_bytes"] == 0  # naive keeps no state but the evaluator's numbers


def test_evaluations_in_the_middle_of_training_are_not_training_passes():
    _, results = run(validation=0.2)  # the valid stream is evaluated after every epoch
    assert results.efficiency["forward_passes_per_sample"] == 1


def test_replay_passes_its_memory_too_and_its_buffer_holds_bytes():
    strategy, results = run("replay", params={"mem_size": "100"})
    cost = results.efficiency
    # experience 0: its own samples once; experience 1: plus the replayed ones
    assert cost["forward_passes_per_sample"] > 1
    assert cost["backward_passes_per_sample"] == cost["forward_passes_per_sample"]
    # 100 stored digits: 64 float32 inputs each, plus labels and task labels
    assert cost["buffer_bytes"] >= 100 * 64 * 4
    plugins = [c for k, c in strategy.stateful_components().items() if k != "evaluator"]
    assert cost["buffer_bytes"] == state_bytes(plugins)

    _, smaller = run("replay", params={"mem_size": "50"})
    assert smaller.efficiency["buffer_bytes"] < cost["buffer_bytes"]


def test_forwards_without_gradient_count_forward_only():
    # A-GEM's reference gradient is one more backward; LwF's teacher is a copy, not counted
    _, agem = run("agem")
    assert agem.efficiency["backward_passes_per_sample"] > 1
    _, lwf = run("lwf")
    assert lwf.efficiency["forward_passes_per_sample"] == 1


def test_times_and_memory_are_measured():
    _, results = run()
    cost = results.efficiency
    assert cost["train_seconds"] == pytest.approx(math.fsum(results.train_seconds))
    assert 0 < cost["train_cpu_seconds"]
    assert cost["peak_host_memory_bytes"] >= 10 * 2**20  # torch alone takes more
    assert cost["peak_host_memory_bytes"] == pytest.approx(peak_host_memory(), rel=0.5)
    assert cost["peak_device_memory_bytes"] is None  # on the CPU
    assert set(MEASURED) <= set(cost)
    assert "Cost" in results.summary() and "efficiency" in results.to_dict()


def test_the_counts_survive_a_checkpoint(tmp_path):
    from clhost.testing import Killed, kill_before

    whole = run()[1].efficiency
    options = RunOptions(benchmark=DIGITS, epochs=1, device="cpu")
    first = build(options)
    kill_before(first.strategy, 1)
    with pytest.raises(Killed):
        run_experiment(first.strategy, first.benchmark, output_dir=tmp_path)
    again = build(options)
    resumed = run_experiment(again.strategy, again.benchmark, output_dir=tmp_path, resume=True)
    for key in ("forward_passes_per_sample", "backward_passes_per_sample", "parameters"):
        assert resumed.efficiency[key] == whole[key]


def test_the_meter_counts_the_first_tensor_of_an_output_and_skips_the_rest():
    from clhost.evaluation.efficiency import CostMeter

    model = torch.nn.Identity()
    meter = CostMeter()
    meter.start(model)
    model("not a tensor")  # nothing to count
    model({"logits": torch.ones(3, 2, requires_grad=True)})["logits"].sum().backward()
    model(torch.ones(5, 2))  # forward only: no gradient flows back
    counts = meter.stop(4)
    assert (counts["forward_samples"], counts["backward_samples"]) == (8, 3)
    assert counts["experience_samples"] == 4
    model(torch.ones(5, 2))  # stopped: the hook is gone
    assert (meter.forward, meter.backward) == (8, 3)


def fitted(strategy):
    """``strategy`` trained on split digits: its efficiency record."""
    benchmark = build(RunOptions(strategy=Spec("naive", {}), benchmark=DIGITS)).benchmark
    return run_experiment(strategy, benchmark).efficiency


def small_backbone():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16))


@pytest.mark.parametrize("epochs", [1, 2])
def test_a_frozen_feature_template_counts_its_fitting_passes(epochs):
    # SimpleCIL fits prototypes on model.features, never calling the model
    from clhost_simplecil import SimpleCIL

    cost = fitted(SimpleCIL(model=small_backbone(), train_epochs=epochs, device="cpu"))
    assert cost["forward_passes_per_sample"] == pytest.approx(epochs, abs=0.01)
    assert cost["backward_passes_per_sample"] == 0


def test_ranpac_counts_its_first_session_adaptation():
    from clhost_ranpac import RanPAC

    def ranpac(adapt_epochs):
        return RanPAC(
            model=small_backbone(), projection_size=32, adapt_epochs=adapt_epochs, device="cpu"
        )

    plain, adapted = fitted(ranpac(0)), fitted(ranpac(2))
    assert plain["forward_passes_per_sample"] == pytest.approx(1, abs=0.01)
    # two more passes over experience 0 (about half the samples), each with a backward
    assert adapted["forward_passes_per_sample"] == pytest.approx(2, abs=0.1)
    assert adapted["backward_passes_per_sample"] == pytest.approx(1, abs=0.1)


class SlowEvaluation:
    """0.3 s more for every evaluated experience, counting those in training."""

    def __init__(self):
        self.during_training = 0

    @hookimpl
    def clhost_before_eval_exp(self, strategy):
        self.during_training += strategy.evaluator._in_experience
        time.sleep(0.3)


def test_evaluations_in_the_middle_of_training_are_not_training_time():
    from clhost_naive import Naive

    composition = build(RunOptions(benchmark=DIGITS, validation=0.2, device="cpu"))
    built, slow = composition.strategy, SlowEvaluation()
    strategy = Naive(
        model=built.model,
        optimizer=built.optimizer,
        plugins=[slow],
        train_epochs=2,
        eval_every=1,
        device="cpu",
    )
    results = run_experiment(strategy, composition.benchmark, eval_streams=composition.eval_streams)
    # the 2 experiences of the valid stream after each epoch of 2 experiences: 2.4 s
    assert slow.during_training == 8
    cost = results.efficiency
    assert cost["train_seconds"] < 1.5 and cost["train_cpu_seconds"] < 1.5
    assert sum(results.train_seconds) == cost["train_seconds"]
