"""The helpers of ``clhost.testing``: resume and round-trip checks catch state that is not
saved, the declared-strategy check catches a lost parameter, the online helpers train."""

import importlib.metadata

import pytest
import torch

import clhost
from clhost.errors import ParameterError
from clhost.evaluation import Logger
from clhost.models import SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost.testing import (
    HookRecorder,
    MinibatchRecorder,
    assert_builds_its_plugin_first,
    assert_logger_keeps_a_killed_run,
    assert_refuses,
    assert_resumes,
    online_accuracy,
    online_strategy_for,
    online_stream,
    seeded_strategy,
    state_round_trip,
    toy_benchmark,
)

BENCHMARK = toy_benchmark(n_experiences=3)


class Drift(SupervisedPlugin):
    """Adds a growing amount of noise to the gradients; ``saves`` says whether the amount
    is part of its state, as it must be for a resumed run to match."""

    state_key = "drift"

    def __init__(self, saves: bool):
        self.saves, self.steps = saves, 0

    @clhost.hookimpl
    def clhost_after_backward(self, strategy):
        self.steps += 1
        for parameter in strategy.model.parameters():
            parameter.grad.add_(0.01 * self.steps)

    def state_dict(self):
        return {"steps": self.steps} if self.saves else {}

    def load_state_dict(self, state):
        self.steps = state.get("steps", 0)


def builder(saves):
    def build():
        model = SimpleMLP(num_classes=6, input_size=8, hidden_sizes=(16,))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return SupervisedTemplate(
            model=model, optimizer=optimizer, plugins=[Drift(saves)], evaluator=None
        )

    return build


def test_assert_resumes_passes_a_plugin_that_saves_its_state():
    resumed = assert_resumes(builder(True), BENCHMARK.train_stream, split=2)
    assert resumed.plugins[0].steps > 0


def test_assert_resumes_catches_a_plugin_that_forgets_its_state():
    with pytest.raises(AssertionError):
        assert_resumes(builder(False), BENCHMARK.train_stream, split=1)


def test_state_round_trip_goes_through_safe_bytes():
    plugin = Drift(True)
    plugin.steps = 4
    assert state_round_trip(plugin, Drift(True)).steps == 4

    class Unsafe(Drift):
        def state_dict(self):
            return {"steps": object()}

    with pytest.raises(Exception, match="weights_only|Unsupported"):
        state_round_trip(Unsafe(True), Drift(True))


def test_assert_resumes_works_with_the_default_evaluator():
    def build():
        model = SimpleMLP(num_classes=6, input_size=8, hidden_sizes=(16,))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        return SupervisedTemplate(model=model, optimizer=optimizer, plugins=[Drift(True)])

    resumed = assert_resumes(build, BENCHMARK.train_stream, split=1)
    assert resumed.evaluator.trained_experiences == [0, 1, 2]


class Sized(SupervisedPlugin):
    """A plugin with one parameter, and a strategy declared from it."""

    state_key = "sized"

    def __init__(self, size: int = 3):
        self.size = size


class SizedStrategy(SupervisedTemplate, plugin=Sized):
    """Supervised training with ``Sized`` first in line."""


class Misbuilt(SupervisedTemplate):
    """A strategy that loses its plugin's parameter."""

    def __init__(self, *, size: int = 3, plugins=(), **kwargs):
        super().__init__(plugins=[Sized(), *plugins], **kwargs)


def test_assert_builds_its_plugin_first_catches_a_lost_parameter():
    assert assert_builds_its_plugin_first(SizedStrategy, Sized, size=5).plugins[0].size == 5
    with pytest.raises(AssertionError):
        assert_builds_its_plugin_first(Misbuilt, Sized, size=5)


class Registered:
    """An entry point that loads ``target``."""

    def __init__(self, target):
        self.target = target

    def load(self):
        return self.target


def test_assert_builds_its_plugin_first_checks_the_registration(monkeypatch):
    groups = {"clhost.strategies": {"sized": Registered(SizedStrategy)}, "clhost.plugins": {}}
    groups["clhost.plugins"]["sized"] = Registered(Sized)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: groups[group])
    assert_builds_its_plugin_first(SizedStrategy, Sized, entry_point="sized")
    groups["clhost.plugins"]["sized"] = Registered(Drift)
    with pytest.raises(AssertionError, match="plugins"):
        assert_builds_its_plugin_first(SizedStrategy, Sized, entry_point="sized")


def test_online_stream_and_strategy_train_a_minibatch_at_a_time():
    stream = online_stream(2, experience_size=10)
    assert len(stream) == 20 and {len(experience) for experience in stream} == {10}
    assert stream[0].origin_experience == 0 and stream[-1].origin_experience == 1
    recorder = HookRecorder(["clhost_before_backward"])
    strategy = online_strategy_for(SimpleMLP(4, 8, (16,)), [recorder], train_passes=2)
    strategy.train(stream[:3])
    assert recorder.calls == ["clhost_before_backward"] * 6
    assert isinstance(strategy.optimizer, torch.optim.SGD) and strategy.evaluator is None


def test_online_accuracy_measures_the_trained_model():
    assert 0.1 < online_accuracy() < 0.3  # finetuning forgets all but the last classes


def test_seeded_strategy_builds_the_same_model_every_time():
    first, second = (seeded_strategy(model=lambda: SimpleMLP(4, 8, (16,))) for _ in range(2))
    assert type(first) is SupervisedTemplate and isinstance(first.optimizer, torch.optim.SGD)
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_assert_refuses_needs_the_error_to_name_the_parameter():
    def component(size=1, flag=False):
        if size < 1:
            raise ParameterError(f"size must be positive, got {size}")

    assert_refuses(component, {"size": 0}, ({"size": -1}, "positive"))
    with pytest.raises(AssertionError, match="accepted"):
        assert_refuses(component, {"flag": "yes"})
    with pytest.raises(AssertionError):
        assert_refuses(component, ({"size": 0}, "flag"))


def test_minibatch_recorder_keeps_what_each_iteration_saw():
    recorder = MinibatchRecorder()
    strategy = online_strategy_for(SimpleMLP(4, 8, (16,)), [recorder])
    stream = online_stream(1, experience_size=10)
    strategy.train(stream[:2])
    strategy.eval(stream[:1])
    assert [len(batch[1]) for batch in recorder.batches] == [10, 10]
    assert [output.shape for output in recorder.outputs] == [(10, 4)] * 2
    assert len(recorder.losses) == 2 and not recorder.losses[0].requires_grad
    assert recorder.eval_outputs and recorder.eval_outputs[0].shape[1] == 4


class _FileLogger(Logger):
    """Each scalar as a line ``iteration name value``: in ``log`` when ``buffered`` is
    false, else only in ``close`` (the data loss the killed-run contract must catch)."""

    def __init__(self, path, *, buffered):
        self.path, self.buffered, self.every = path, buffered, "iteration"
        self.lines: list[str] = []

    def log(self, event):
        lines = [f"{event.iteration} {name} {value}\n" for name, value in event.scalars().items()]
        if not self.buffered:
            with self.path.open("a") as out:
                out.writelines(lines)
        self.lines += lines

    def close(self):
        if self.buffered:
            self.path.write_text("".join(self.lines))


def _read_lines(path):
    series = {}
    if path.exists():
        for line in path.read_text().splitlines():
            step, name, value = line.split(" ")
            series.setdefault(name, []).append((int(step), float(value)))
    return series


def test_the_killed_run_contract_passes_a_logger_that_writes_each_event(tmp_path):
    path = tmp_path / "log.txt"
    assert_logger_keeps_a_killed_run(
        lambda: _FileLogger(path, buffered=False), lambda: _read_lines(path)
    )
    assert path.read_text()


def test_the_killed_run_contract_fails_a_logger_that_writes_only_when_closed(tmp_path):
    path = tmp_path / "log.txt"
    with pytest.raises(AssertionError):
        assert_logger_keeps_a_killed_run(
            lambda: _FileLogger(path, buffered=True), lambda: _read_lines(path)
        )
    assert not path.exists()  # killed: close() never ran
