"""LRSchedulerPlugin steps a scheduler per epoch or iteration and resets it per experience."""

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from torch.optim import lr_scheduler

import clhost
from clhost.data import Stream
from clhost.errors import ParameterError, UnknownNameError
from clhost.models import SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost.testing import assert_resumes, run_readme_examples, state_round_trip, toy_benchmark
from clhost_lr_scheduler import LRSchedulerPlugin


class LRs(SupervisedPlugin):
    """The learning rate in use at each epoch and iteration, per experience."""

    def __init__(self):
        self.epochs, self.iterations = [], []

    @clhost.hookimpl
    def clhost_before_training_exp(self):
        self.epochs.append([])
        self.iterations.append([])

    @clhost.hookimpl
    def clhost_before_training_epoch(self, strategy):
        self.epochs[-1].append(strategy.optimizer.param_groups[0]["lr"])

    @clhost.hookimpl
    def clhost_before_training_iteration(self, strategy):
        self.iterations[-1].append(strategy.optimizer.param_groups[0]["lr"])


@pytest.fixture(scope="module")
def bench():
    return toy_benchmark(n_experiences=2, classes_per_experience=2, n_per_class=20)


def make(plugin_from_optimizer, criterion=None, **kwargs):
    """A strategy whose scheduler plugin is built on its optimizer, plus an LR recorder."""
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    lrs = LRs()
    strategy = SupervisedTemplate(
        model=model,
        optimizer=optimizer,
        criterion=criterion,
        plugins=[plugin_from_optimizer(optimizer), lrs],
        **{"train_mb_size": 20, "train_epochs": 3, **kwargs},
    )
    return strategy, lrs


def run(bench, plugin_from_optimizer, **kwargs):
    strategy, lrs = make(plugin_from_optimizer, **kwargs)
    for experience in bench.train_stream:
        strategy.train(experience)
    return lrs


def close(actual, expected):
    torch.testing.assert_close(torch.tensor(actual), torch.tensor(expected), rtol=1e-6, atol=0)


def step_lr(optimizer):
    return lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)


def test_epoch_steps_and_a_reset_per_experience(bench):
    lrs = run(bench, lambda o: LRSchedulerPlugin(step_lr(o)))
    close(lrs.epochs, [[0.1, 0.05, 0.025], [0.1, 0.05, 0.025]])


def test_without_resets_the_schedule_carries_on(bench):
    plugin = lambda o: LRSchedulerPlugin(step_lr(o), reset_scheduler=False, reset_lr=False)  # noqa: E731
    lrs = run(bench, plugin)
    close(lrs.epochs, [[0.1, 0.05, 0.025], [0.0125, 0.00625, 0.003125]])


def test_reset_lr_alone_restarts_the_rate_but_not_the_scheduler_phase(bench):
    def plugin(optimizer):
        scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return LRSchedulerPlugin(scheduler, reset_scheduler=False)

    lrs = run(bench, plugin)
    # epochs 4 and 6 of the schedule fall in the second experience: it halves after its first
    close(lrs.epochs, [[0.1, 0.1, 0.05], [0.1, 0.05, 0.05]])


def test_iteration_granularity(bench):
    def plugin(optimizer):
        scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
        return LRSchedulerPlugin(scheduler, step_granularity="iteration")

    lrs = run(bench, plugin, train_epochs=2)  # 2 iterations per epoch
    expected = [0.1 * 0.5**i for i in range(4)]
    close(lrs.iterations, [expected, expected])
    close(lrs.epochs, [[0.1, 0.025], [0.1, 0.025]])


def test_a_scheduler_built_by_name_matches_the_torch_one(bench):
    by_name = run(bench, lambda o: LRSchedulerPlugin("step", step_size=1, gamma=0.5))
    close(by_name.epochs, [[0.1, 0.05, 0.025], [0.1, 0.05, 0.025]])
    multistep = LRSchedulerPlugin("multistep", milestones=(2,), gamma=0.1)
    close(run(bench, lambda o: multistep).epochs, [[0.1, 0.1, 0.01], [0.1, 0.1, 0.01]])


def test_cosine_spans_each_experience_by_default(bench):
    lrs = run(bench, lambda o: LRSchedulerPlugin(), train_epochs=4)
    expected = [0.05 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]
    close(lrs.epochs, [expected, expected])

    lrs = run(
        bench,
        lambda o: LRSchedulerPlugin("cosine", step_granularity="iteration", eta_min=0.01),
        train_epochs=3,
    )
    period = 3 * 2  # epochs x iterations of the experience
    expected = [0.01 + 0.045 * (1 + math.cos(math.pi * k / period)) for k in range(period)]
    close(lrs.iterations, [expected, expected])


class ConstantLoss:
    """A criterion whose value never improves, so a plateau scheduler must act."""

    def __call__(self, output, targets):
        return output.sum() * 0 + 1.0


def test_plateau_on_the_training_loss(bench):
    lrs = run(
        bench,
        lambda o: LRSchedulerPlugin("plateau", metric="train_loss", gamma=0.5, patience=0),
        criterion=ConstantLoss(),
        train_epochs=4,
    )
    close(lrs.epochs, [[0.1, 0.1, 0.05, 0.025], [0.1, 0.1, 0.05, 0.025]])


def test_plateau_on_the_validation_loss_steps_after_each_evaluation(bench):
    valid = Stream(
        "valid", [dataclasses.replace(e, origin_stream="valid") for e in bench.test_stream]
    )
    plugin = LRSchedulerPlugin(
        "plateau", metric="val_loss", val_stream_name="valid", gamma=0.5, patience=0
    )
    strategy, lrs = make(lambda o: plugin, criterion=ConstantLoss(), train_epochs=4, eval_every=1)
    strategy.train(bench.train_stream[0], eval_streams=[valid, bench.test_stream])
    close(lrs.epochs, [[0.1, 0.1, 0.05, 0.025]])
    strategy.eval(valid)  # an evaluation outside training does not step
    assert strategy.optimizer.param_groups[0]["lr"] == 0.1


def test_state_round_trips_and_a_resumed_run_continues_the_schedule(bench):
    def plugin(optimizer):
        return LRSchedulerPlugin("step", step_size=2, gamma=0.5, reset_scheduler=False)

    resumed = assert_resumes(lambda: make(plugin, evaluator=None)[0], bench.train_stream)
    assert resumed.plugins[0].scheduler.last_epoch == 3 * len(bench.train_stream)
    first, _ = make(plugin)
    first.train(bench.train_stream[0])
    restored = state_round_trip(first.plugins[0], plugin(None))
    assert restored.state_dict()["scheduler"]["last_epoch"] == 3  # carried on, not reset
    second, lrs = make(lambda optimizer: restored)
    second.train(bench.train_stream[1])
    close(lrs.epochs, run(bench, plugin).epochs[1:])


def test_a_scheduler_on_another_optimizer_is_refused(bench):
    other = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    strategy, _ = make(lambda o: LRSchedulerPlugin(step_lr(other)))
    with pytest.raises(ParameterError, match="another optimizer"):
        strategy.train(bench.train_stream[0])


def test_val_loss_needs_periodic_evaluation_of_the_stream(bench):
    def plugin(optimizer):
        return LRSchedulerPlugin("plateau", metric="val_loss", val_stream_name="valid")

    strategy, _ = make(plugin)
    with pytest.raises(ParameterError, match="eval_every > 0"):
        strategy.train(bench.train_stream[0])
    strategy, _ = make(plugin, eval_every=1)
    with pytest.raises(ParameterError, match="'valid' is not among"):
        strategy.train(bench.train_stream[0], eval_streams=[bench.test_stream])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scheduler": "cosin"}, "did you mean 'cosine'"),
        ({"scheduler": "step"}, "needs step_size"),
        ({"scheduler": "step", "step_size": 2, "t_max": 3}, "t_max does not apply"),
        ({"scheduler": "exponential", "gamma": -1.0}, r"gamma must be in \(0, inf\)"),
        ({"scheduler": "multistep", "milestones": (3, 2)}, "milestones must be increasing"),
        ({"scheduler": "plateau"}, "metric must be given"),
        ({"scheduler": "cosine", "metric": "train_loss"}, "metric must be given"),
        ({"scheduler": "plateau", "metric": "val_loss"}, "val_stream_name must be given"),
        ({"reset_scheduler": False}, "needs t_max"),
        ({"step_granularity": "batch"}, "step_granularity"),
        ({"reset_lr": "yes"}, "reset_lr"),
        ({"scheduler": 3}, "scheduler must be"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises((ParameterError, UnknownNameError), match=message):
        LRSchedulerPlugin(**kwargs)


def test_options_of_named_schedulers_are_refused_with_a_scheduler_object():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    with pytest.raises(ParameterError, match="gamma applies to schedulers built by name"):
        LRSchedulerPlugin(step_lr(optimizer), gamma=0.5)


def test_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
