"""The evaluation plugin's matrices and events, and what each logger writes."""

import io
import math

import pytest
import torch

from clhost.errors import ParameterError
from clhost.evaluation import (
    BaseEvaluationPlugin,
    EvaluationPlugin,
    LineOutput,
    Logger,
    MetricEvent,
    ProgressLogger,
    TextLogger,
)
from clhost.models import IncrementalMLP
from clhost.templates import BaseTemplate, SupervisedTemplate
from clhost.testing import toy_benchmark


class Recorder(Logger):
    """Keeps every event and every progress call."""

    def __init__(self, shows_progress=False, every="experience"):
        self.shows_progress, self.every = shows_progress, every
        self.events: list[MetricEvent] = []
        self.progress: list[tuple] = []
        self.closed = 0

    def log(self, event):
        self.events.append(event)

    def start_progress(self, label, total):
        self.progress.append(("start", label, total))

    def advance(self, steps=1):
        self.progress.append(("advance", steps))

    def end_progress(self):
        self.progress.append(("end",))

    def close(self):
        self.closed += 1


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def make_strategy(evaluator=None, **kwargs):
    torch.manual_seed(0)
    model = IncrementalMLP(input_size=8, hidden_sizes=(16,))
    return SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        train_mb_size=20,
        evaluator=evaluator if evaluator is not None else EvaluationPlugin(),
        **kwargs,
    )


def test_rows_of_the_matrix_are_the_evaluations_between_experiences():
    benchmark = toy_benchmark(n_experiences=3, n_per_class=20)
    strategy = make_strategy(train_epochs=5)
    initial = strategy.eval(benchmark.test_stream)
    results = []
    for experience in benchmark.train_stream:
        strategy.train(experience)
        results.append(strategy.eval(benchmark.test_stream))
    evaluator = strategy.evaluator
    matrix = evaluator.accuracy_matrix["test"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    for i, result in enumerate(results):
        assert matrix[i] == [result.per_experience[j]["accuracy"] for j in range(3)]
        assert evaluator.loss_matrix["test"][i] == [
            result.per_experience[j]["loss"] for j in range(3)
        ]
    assert evaluator.initial_accuracy["test"] == [
        initial.per_experience[j]["accuracy"] for j in range(3)
    ]
    assert matrix[2][2] > 0.9  # well separated blobs are learnt
    assert len(evaluator.eval_seconds["test"]) == 3
    assert [entry["experience"] for entry in evaluator.train_history] == [0, 1, 2]
    assert all(entry["seconds"] > 0 for entry in evaluator.train_history)


def test_without_an_initial_evaluation_there_is_no_initial_row():
    benchmark = toy_benchmark(n_experiences=2, n_per_class=20)
    strategy = make_strategy()
    strategy.train(benchmark.train_stream[0])
    strategy.eval(benchmark.test_stream)
    assert strategy.evaluator.initial_accuracy == {}
    assert len(strategy.evaluator.accuracy_matrix["test"]) == 1


def test_stream_metrics_average_experiences_and_pool_samples():
    benchmark = toy_benchmark(n_experiences=2, n_per_class=20)
    strategy = make_strategy()
    strategy.train(benchmark.train_stream[0])
    # Unequal sizes: 40 samples of experience 0, 10 of experience 1.
    small = benchmark.test_stream[1]
    small.dataset = small.dataset.subset(torch.arange(10))
    result = strategy.eval(benchmark.test_stream)
    per = result.per_experience
    assert result.metrics["accuracy"] == pytest.approx(
        (per[0]["accuracy"] + per[1]["accuracy"]) / 2
    )
    assert result.metrics["accuracy_pooled"] == pytest.approx(
        (per[0]["accuracy"] * 40 + per[1]["accuracy"] * 10) / 50
    )
    assert result.metrics["samples"] == 50
    assert result.metrics["accuracy"] != pytest.approx(result.metrics["accuracy_pooled"])


def test_periodic_evaluation_inside_an_experience_leaves_the_matrix_alone():
    benchmark = toy_benchmark(n_experiences=2, n_per_class=20)
    recorder = Recorder()
    periodic = make_strategy(
        EvaluationPlugin(loggers=[recorder]), train_epochs=2, eval_every=1, peval_mode="epoch"
    )
    plain = make_strategy(train_epochs=2)
    for strategy in (periodic, plain):
        for experience in benchmark.train_stream:
            strategy.train(experience, eval_streams=[benchmark.test_stream])
            strategy.eval(benchmark.test_stream)
    assert periodic.evaluator.accuracy_matrix == plain.evaluator.accuracy_matrix
    streams = [e for e in recorder.events if e.phase == "eval_stream"]
    # two periodic evaluations per experience, plus the one after it
    assert len(streams) == 6
    assert [e.trained for e in streams] == [0, 0, 1, 1, 1, 2]
    assert [e.iteration for e in streams][:2] == [2, 4]  # 40 samples / 20 per batch


def test_evaluating_only_seen_experiences_fills_the_rest_with_nan():
    benchmark = toy_benchmark(n_experiences=3, n_per_class=20)
    strategy = make_strategy()
    for i, experience in enumerate(benchmark.train_stream):
        strategy.train(experience)
        strategy.eval(benchmark.test_stream[: i + 1])
    matrix = strategy.evaluator.accuracy_matrix["test"]
    assert [len(row) for row in matrix] == [3, 3, 3]
    assert math.isnan(matrix[0][1]) and math.isnan(matrix[0][2]) and math.isnan(matrix[1][2])
    assert not any(math.isnan(v) for v in matrix[2])


def test_events_follow_training_and_evaluation():
    benchmark = toy_benchmark(n_experiences=2, n_per_class=20)
    recorder = Recorder()
    strategy = make_strategy(EvaluationPlugin(loggers=[recorder]))
    strategy.train(benchmark.train_stream[0])
    strategy.eval(benchmark.test_stream)
    phases = [(e.phase, e.stream, e.experience, e.trained) for e in recorder.events]
    assert phases == [
        ("train_exp", "train", 0, 1),
        ("eval_exp", "test", 0, 1),
        ("eval_exp", "test", 1, 1),
        ("eval_stream", "test", None, 1),
    ]
    train = recorder.events[0].metrics
    assert set(train) == {"accuracy", "loss", "samples", "seconds"}
    assert train == strategy.evaluator.train_metrics()
    assert recorder.events[0].iteration == 2
    stream = recorder.events[-1].metrics
    assert stream["accuracy"] == strategy.evaluator.last_eval_result().accuracy
    assert recorder.progress == []  # no progress calls for a logger that shows none


def test_progress_calls_cover_every_minibatch():
    benchmark = toy_benchmark(n_experiences=1, n_per_class=20)
    recorder = Recorder(shows_progress=True)
    strategy = make_strategy(EvaluationPlugin(loggers=[recorder]), train_epochs=3)
    strategy.train(benchmark.train_stream[0])
    assert recorder.progress[0] == ("start", "train train exp 0", 6)
    assert recorder.progress[1:] == [("advance", 1)] * 6 + [("end",)]


def test_attached_loggers_are_removed_after_the_block():
    evaluator = EvaluationPlugin()
    recorder = Recorder()
    with evaluator.attached([recorder]):
        assert evaluator.loggers == [recorder]
        evaluator.emit(MetricEvent("run", {"x": 1.0}))
    assert evaluator.loggers == []
    assert len(recorder.events) == 1


def test_confusion_matrices_agree_with_accuracy():
    benchmark = toy_benchmark(n_experiences=2, n_per_class=20)
    strategy = make_strategy(EvaluationPlugin(confusion_matrix=True))
    strategy.train(benchmark.train_stream[0])
    result = strategy.eval(benchmark.test_stream)
    # The model has 2 outputs; scores are padded to cover the 4 classes of experience 1.
    assert [m.shape for m in result.confusion_matrices.values()] == [(2, 2), (4, 4)]
    for j, matrix in result.confusion_matrices.items():
        assert int(matrix.sum()) == result.per_experience[j]["samples"]
        correct = int(matrix.diagonal().sum())
        assert correct / int(matrix.sum()) == pytest.approx(result.per_experience[j]["accuracy"])
    assert result.confusion_matrices[1][2:, 2:].sum() == 0  # unseen classes never predicted
    assert "confusion_matrices" in result.to_dict()


def test_evaluator_state_round_trips_through_a_weights_only_file(tmp_path):
    benchmark = toy_benchmark(n_experiences=2, n_per_class=20)
    strategy = make_strategy()
    strategy.eval(benchmark.test_stream)
    strategy.train(benchmark.train_stream[0])
    strategy.eval(benchmark.test_stream)
    torch.save(strategy.evaluator.state_dict(), tmp_path / "state.pt")
    restored = EvaluationPlugin()
    restored.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert restored.state_dict() == strategy.evaluator.state_dict()
    assert restored.accuracy_matrix == strategy.evaluator.accuracy_matrix


# -- loggers ----------------------------------------------------------------------------


EVENTS = [
    MetricEvent("train_exp", {"accuracy": 0.5, "loss": 1.25, "samples": 40}, "train", 0, 1, 2),
    MetricEvent("eval_stream", {"accuracy": 0.75, "loss": float("nan")}, "test", None, 1, 2),
]


def test_text_logger_writes_one_readable_line_per_event():
    stream = io.StringIO()
    logger = TextLogger(stream)
    for event in EVENTS:
        logger.log(event)
    assert stream.getvalue().splitlines() == [
        "train train exp 0: accuracy=0.5000 loss=1.2500 samples=40",
        "eval test stream after 1: accuracy=0.7500 loss=nan",
    ]
    logger.close()
    assert not stream.closed  # a stream it was given stays open


def test_text_logger_writes_epochs_and_iterations_to_a_file_when_asked(tmp_path):
    benchmark = toy_benchmark(n_experiences=1, n_per_class=20)
    path = tmp_path / "log.txt"
    with TextLogger(path, every="iteration") as logger:
        strategy = make_strategy(EvaluationPlugin(loggers=[logger]), train_epochs=2)
        strategy.train(benchmark.train_stream[0])
        lines = path.read_text().splitlines()  # flushed before close
    assert lines[0].startswith("train train exp 0 iteration 1: loss=")
    assert sum(" epoch " in line for line in lines) == 2
    assert lines[-1].startswith("train train exp 0: accuracy=")


def test_line_output_flushes_each_write_and_knows_an_appended_file(tmp_path):
    path = tmp_path / "logs" / "out.txt"
    output = LineOutput(path, "w")
    assert not output.had_content
    output.write("a\n")
    assert path.read_text() == "a\n"  # flushed
    output.close()
    output.close()
    appended = LineOutput(path, "a")
    assert appended.had_content
    appended.write("b\n")
    appended.close()
    assert path.read_text() == "a\nb\n"
    with pytest.raises(ValueError, match="closed"):
        appended.write("c\n")
    with pytest.raises(ParameterError, match="cannot write .*out.txt/x"):
        LineOutput(path / "x", "w")  # under a file


def test_finer_events_go_only_to_the_loggers_asking_for_them():
    benchmark = toy_benchmark(n_experiences=2, n_per_class=20)
    coarse, epochs, iterations = Recorder(), Recorder(every="epoch"), Recorder(every="iteration")
    strategy = make_strategy(EvaluationPlugin(loggers=[coarse, epochs, iterations]), train_epochs=3)
    for experience in benchmark.train_stream:
        strategy.train(experience)
    batches = strategy.clock.train_iterations // 6  # minibatches per epoch

    def phases(recorder):
        return [event.phase for event in recorder.events]

    assert phases(coarse) == ["train_exp", "train_exp"]
    assert phases(epochs) == (["train_epoch"] * 3 + ["train_exp"]) * 2
    per_iteration = [e for e in iterations.events if e.phase == "train_iteration"]
    assert [e.iteration for e in per_iteration] == list(range(1, 6 * batches + 1))
    assert [e.epoch for e in per_iteration[: batches * 3]] == [0] * batches + [1] * batches + [
        2
    ] * batches
    assert phases(iterations).count("train_epoch") == 6
    # an epoch's loss is its minibatches' mean (weighted by size), the experience's the
    # mean of its epochs: the same quantity at three granularities
    first_epoch = [e for e in epochs.events if e.phase == "train_epoch"][0]
    assert first_epoch.iteration == batches and first_epoch.metrics["samples"] == 40
    epoch_events = [e for e in epochs.events if e.phase == "train_epoch"][:3]
    experience = next(e for e in epochs.events if e.phase == "train_exp")
    assert experience.metrics["loss"] == pytest.approx(
        sum(e.metrics["loss"] for e in epoch_events) / 3
    )
    assert experience.iteration == per_iteration[3 * batches - 1].iteration
    seconds = [e.seconds for e in iterations.events]
    assert seconds == sorted(seconds) and 0 < seconds[0] < seconds[-1]


def test_events_are_stamped_with_seconds_since_the_evaluator_started():
    recorder = Recorder()
    evaluator = EvaluationPlugin(loggers=[recorder])
    strategy = make_strategy(evaluator)
    benchmark = toy_benchmark(n_experiences=1, n_per_class=20)
    strategy.eval(benchmark.test_stream)
    evaluator.emit(MetricEvent("run", {"forgetting": 0.0}))
    evaluator.emit(MetricEvent("run", {"forgetting": 0.0}, seconds=123.0))
    stamps = [event.seconds for event in recorder.events]
    assert all(0 <= s < 60 for s in stamps[:-1]) and stamps == sorted(stamps)
    assert stamps[-1] == 123.0


def test_event_scalars_name_where_each_metric_was_measured():
    assert EVENTS[0].scalars() == {
        "train_exp/accuracy": 0.5,
        "train_exp/loss": 1.25,
        "train_exp/samples": 40.0,
    }
    evaluated = MetricEvent("eval_exp", {"accuracy": 0.5}, "test", 1, 2, 7)
    assert evaluated.scalars() == {"eval_exp/test/exp_1/accuracy": 0.5}
    assert math.isnan(EVENTS[1].scalars()["eval_stream/test/loss"])
    assert MetricEvent("run", {"bwt": -0.1}).scalars() == {"run/bwt": -0.1}
    assert set(EVENTS[1].to_dict()) >= {"seconds", "epoch", "iteration", "metrics"}


def test_loggers_refuse_an_unknown_granularity():
    with pytest.raises(ValueError, match="every must be one of"):
        TextLogger(io.StringIO(), every="batch")


def test_progress_logger_draws_on_a_terminal_only():
    silent_stream = io.StringIO()
    silent = ProgressLogger(silent_stream)
    assert not silent.shows_progress
    terminal = FakeTerminal()
    drawn = ProgressLogger(terminal)
    assert drawn.shows_progress
    for logger in (silent, drawn):
        logger.start_progress("train train exp 0", 4)
        for _ in range(4):
            logger.advance()
        logger.end_progress()
    assert silent_stream.getvalue() == ""
    assert "train train exp 0" in terminal.getvalue() and "100%" in terminal.getvalue()


def test_progress_logger_during_training(monkeypatch):
    benchmark = toy_benchmark(n_experiences=1, n_per_class=20)
    terminal = FakeTerminal()
    strategy = make_strategy(EvaluationPlugin(loggers=[ProgressLogger(terminal)]))
    strategy.train(benchmark.train_stream[0])
    strategy.eval(benchmark.test_stream)
    output = terminal.getvalue()
    assert "train train exp 0" in output and "eval test exp 0" in output


def test_file_loggers_reject_an_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        TextLogger(tmp_path / "x.txt", mode="r")


class OneShotTemplate(BaseTemplate):
    """A template with no minibatch loop: it fires only the base template's hooks."""

    def train_experience(self, experience):
        for calls in (self.hooks.before_training_exp, self.hooks.after_training_exp):
            self._fire(calls)

    def eval_experience(self, experience):
        for calls in (self.hooks.before_eval_exp, self.hooks.after_eval_exp):
            self._fire(calls)


def test_a_template_without_an_sgd_loop_gets_an_evaluator_it_can_fire():
    benchmark = toy_benchmark(n_experiences=2, n_per_class=5)
    strategy = OneShotTemplate(model=torch.nn.Linear(8, 4))
    assert type(strategy.evaluator) is BaseEvaluationPlugin
    strategy.train(benchmark.train_stream)
    result = strategy.eval(benchmark.test_stream)
    assert strategy.evaluator.trained_experiences == [0, 1]
    assert sorted(result.per_experience) == [0, 1]
    assert math.isnan(result.metrics["accuracy"])  # no minibatches were counted


def test_minibatch_templates_default_to_the_full_evaluator():
    assert type(make_strategy(evaluator=None).evaluator) is EvaluationPlugin
