"""run_experiment: results, files, and a killed run that resumes to the same result."""

import json
import math
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import clhost
from clhost.benchmarks import split_digits
from clhost.checkpoint import load_checkpoint
from clhost.data import Benchmark
from clhost.errors import ParameterError, PluginCompositionError
from clhost.evaluation import Logger, TextLogger, metrics
from clhost.experiment import RunResults, run_experiment
from clhost.models import IncrementalMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost.testing import Killed, kill_before

_DIGITS = split_digits(n_experiences=5, seed=0)
DIGITS3 = Benchmark(
    name="split-digits-3",
    train_stream=_DIGITS.train_stream[:3],
    test_stream=_DIGITS.test_stream[:3],
    n_classes=6,
    input_shape=(64,),
)


class Anchor(SupervisedPlugin):
    """Pulls the feature weights towards a copy taken after each experience.

    Its state (the copy, and how many experiences it has seen) changes training, so a
    resumed run can only match an uninterrupted one if that state is restored.
    """

    name = "anchor"

    def __init__(self, strength: float = 0.5):
        self.strength = strength
        self.anchors: dict[str, torch.Tensor] = {}
        self.experiences = 0

    @clhost.hookimpl
    def clhost_loss_terms(self, strategy):
        if not self.anchors:
            return None
        params = dict(strategy.model.features.named_parameters())
        penalty = sum(((params[n] - a) ** 2).sum() for n, a in self.anchors.items())
        return ("anchor", self.strength * penalty)

    @clhost.hookimpl
    def clhost_after_training_exp(self, strategy):
        self.experiences += 1
        self.anchors = {
            n: p.detach().clone() for n, p in strategy.model.features.named_parameters()
        }

    def state_dict(self):
        return {"anchors": dict(self.anchors), "experiences": self.experiences}

    def load_state_dict(self, state):
        self.anchors = {n: t.clone() for n, t in state["anchors"].items()}
        self.experiences = int(state["experiences"])


class Events(Logger):
    def __init__(self):
        self.events, self.closed = [], False

    def log(self, event):
        self.events.append(event)

    def close(self):
        self.closed = True


def build(plugins=(), dropout=0.1):
    """The same strategy as a fresh process would build it: seeded model and optimizer."""
    torch.manual_seed(0)
    model = IncrementalMLP(input_size=64, hidden_sizes=(32,), dropout=dropout)
    return SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        train_mb_size=32,
        train_epochs=2,
        plugins=list(plugins),
    )


def without_seconds(history):
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in history]


def assert_identical(a, b):
    """Bitwise-equal weights, optimizer state and metrics."""
    state_a, state_b = a.model.state_dict(), b.model.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name
    momentum_a = [s["momentum_buffer"] for s in a.optimizer.state.values()]
    momentum_b = [s["momentum_buffer"] for s in b.optimizer.state.values()]
    assert all(torch.equal(x, y) for x, y in zip(momentum_a, momentum_b, strict=True))
    assert a.clock.state_dict() == b.clock.state_dict()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    strategy = build(plugins=[Anchor()])
    results = run_experiment(strategy, DIGITS3, output_dir=tmp_path_factory.mktemp("full"))
    return strategy, results


@pytest.mark.parametrize("killed_at", [1, 2])
def test_a_killed_run_resumes_to_the_same_weights_and_metrics(uninterrupted, tmp_path, killed_at):
    strategy, results = uninterrupted
    first = build(plugins=[Anchor()])
    kill_before(first, killed_at)
    with pytest.raises(Killed):
        run_experiment(first, DIGITS3, output_dir=tmp_path)
    # A new process: other seeds, a brand-new model, optimizer and plugin.
    random.seed(7)
    np.random.seed(7)
    resumed = build(plugins=[Anchor()])
    torch.manual_seed(1234)
    resumed_results = run_experiment(resumed, DIGITS3, output_dir=tmp_path, resume=True)
    assert resumed.clock.train_exp_counter == 3
    assert_identical(resumed, strategy)
    assert resumed.plugins[0].experiences == 3
    for name, anchor in strategy.plugins[0].anchors.items():
        assert torch.equal(resumed.plugins[0].anchors[name], anchor)
    assert resumed_results.accuracy_matrix == results.accuracy_matrix
    assert resumed_results.loss_matrix == results.loss_matrix
    assert resumed_results.initial_accuracy == results.initial_accuracy
    assert without_seconds(resumed_results.train_metrics) == without_seconds(results.train_metrics)
    assert resumed_results.summary_metrics() == pytest.approx(
        results.summary_metrics(), nan_ok=True
    )


def test_resuming_without_restoring_the_generators_would_differ(
    uninterrupted, tmp_path, monkeypatch
):
    """The comparison above can fail: lose one piece of state and the weights differ."""
    strategy, _ = uninterrupted
    first = build(plugins=[Anchor()])
    kill_before(first, 1)
    with pytest.raises(Killed):
        run_experiment(first, DIGITS3, output_dir=tmp_path)
    monkeypatch.setattr("clhost.checkpoint.set_rng_state", lambda state: None)
    resumed = build(plugins=[Anchor()])
    torch.manual_seed(1234)
    run_experiment(resumed, DIGITS3, output_dir=tmp_path, resume=True)
    weights = resumed.model.features[1].weight
    assert not torch.equal(weights, strategy.model.features[1].weight)


def test_results_derive_from_the_accuracy_matrix(uninterrupted):
    _, results = uninterrupted
    matrix = results.accuracy_matrix
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    assert results.average_accuracy == metrics.average_accuracy(matrix)
    assert results.forgetting == metrics.forgetting(matrix)
    assert results.bwt == metrics.backward_transfer(matrix)
    assert results.fwt == metrics.forward_transfer(matrix, results.initial_accuracy)
    assert len(results.train_seconds) == 3 and all(s > 0 for s in results.train_seconds)
    assert len(results.eval_seconds) == 3
    # Finetuning on disjoint classes: each experience is learnt, then forgotten.
    assert matrix[0][0] > 0.75
    assert all(f > 0.4 for f in metrics.forgetting_per_experience(matrix))
    assert results.forgetting > 0.4 and results.bwt < -0.4


def test_results_are_written_as_json_and_csv(uninterrupted, tmp_path):
    _, results = uninterrupted
    results.write(tmp_path)
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["accuracy_matrix"] == results.accuracy_matrix
    assert written["forgetting"] == results.forgetting
    assert written["strategy"] == "SupervisedTemplate" and written["benchmark"] == "split-digits-3"
    lines = (tmp_path / "accuracy_matrix.csv").read_text().splitlines()
    assert lines[0] == "after,exp_0,exp_1,exp_2"
    assert lines[1].startswith("initial,") and lines[2].startswith("0,")
    assert float(lines[4].split(",")[3]) == results.accuracy_matrix[2][2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accuracy_matrix.csv", "results.json"]


def test_summary_is_readable(uninterrupted):
    _, results = uninterrupted
    text = results.summary()
    assert "SupervisedTemplate on split-digits-3: 3 experiences" in text
    assert "  after 2" in text and "exp 2" in text
    assert f"Forgetting        {results.forgetting:.4f}" in text
    assert f"BWT               {results.bwt:+.4f}" in text


def test_a_single_experience_has_undefined_forgetting_written_as_null(tmp_path):
    one = Benchmark("one", DIGITS3.train_stream[:1], DIGITS3.test_stream[:1], 2, (64,))
    results = run_experiment(build(), one, output_dir=tmp_path, eval_before_training=False)
    assert results.initial_accuracy is None
    assert math.isnan(results.forgetting) and math.isnan(results.fwt)
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["forgetting"] is None and written["bwt"] is None and written["fwt"] is None
    assert "Forgetting        n/a (one training step)" in results.summary()


def test_resuming_a_finished_run_trains_no_more(tmp_path):
    first = run_experiment(build(), DIGITS3, output_dir=tmp_path)
    again = build()
    kill_before(again, 0)  # any training would raise
    results = run_experiment(again, DIGITS3, output_dir=tmp_path, resume=True)
    assert again.clock.train_exp_counter == 3
    assert results.accuracy_matrix == first.accuracy_matrix


def test_resume_without_a_checkpoint_starts_from_the_beginning(tmp_path):
    results = run_experiment(build(), DIGITS3, output_dir=tmp_path, resume=True)
    assert len(results.accuracy_matrix) == 3
    assert load_checkpoint(build(), tmp_path / "checkpoint.pt", benchmark=DIGITS3) == 3


def test_loggers_get_every_event_and_are_closed(tmp_path):
    events = Events()
    path = tmp_path / "events.txt"
    run_experiment(build(), DIGITS3, loggers=[events, TextLogger(path)], progress=True)
    phases = [e.phase for e in events.events]
    assert phases.count("train_exp") == 3
    assert phases.count("eval_stream") == 4  # before training, then after each experience
    assert phases.count("eval_exp") == 12
    assert phases[-1] == "run" and set(events.events[-1].metrics) == {
        "average_accuracy",
        "average_seen_accuracy",
        "forgetting",
        "bwt",
        "fwt",
    }
    assert events.closed
    assert len(path.read_text().splitlines()) == len(events.events)


def test_bad_calls_are_clear_errors():
    with pytest.raises(ParameterError, match="resume=True needs output_dir"):
        run_experiment(build(), DIGITS3, resume=True)
    model = IncrementalMLP(input_size=64, hidden_sizes=(8,))
    no_metrics = SupervisedTemplate(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), evaluator=None
    )
    with pytest.raises(PluginCompositionError, match="EvaluationPlugin"):
        run_experiment(no_metrics, DIGITS3)


def test_results_can_be_built_from_a_matrix_alone():
    results = RunResults("s", "b", [[0.9, 0.1], [0.5, 0.8]], initial_accuracy=[0.5, 0.0])
    assert results.average_accuracy == pytest.approx(0.65)
    assert results.forgetting == pytest.approx(0.4)
    assert results.bwt == pytest.approx(-0.4)
    assert results.fwt == pytest.approx(0.1)
    assert results.to_dict()["fwt"] == pytest.approx(0.1)


def test_the_metrics_page_example_runs(capsys):
    page = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert blocks
    exec(compile("\n".join(blocks), str(page), "exec"), {"__name__": "docs.metrics"})
    assert "Forgetting" in capsys.readouterr().out
