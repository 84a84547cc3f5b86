"""The meta-learning template fires its own hooks and rejects single-step plugins."""

import pytest
import torch

import clhost
from clhost.benchmarks import split_online
from clhost.errors import PluginCompositionError
from clhost.hookspecs import BaseTemplateHooks, MetaLearningHooks, SGDLoopHooks, hook_names
from clhost.models import SimpleMLP
from clhost.templates import OnlineMetaLearningTemplate, SupervisedMetaLearningTemplate
from clhost.testing import HookRecorder, toy_benchmark


class ReptileLike(SupervisedMetaLearningTemplate):
    """One fast SGD step per minibatch, then move the slow weights part of the way."""

    def __init__(self, *, meta_step: float = 0.5, **kwargs):
        self.meta_step = meta_step
        super().__init__(**kwargs)

    def inner_updates(self) -> None:
        self._slow = [p.detach().clone() for p in self.model.parameters()]
        self.loss = self._criterion(self.forward(), self.mb_y)
        self.loss.backward()
        self.optimizer.step()

    def outer_update(self) -> None:
        with torch.no_grad():
            for slow, param in zip(self._slow, self.model.parameters(), strict=True):
                param.copy_(slow + self.meta_step * (param - slow))


def _strategy(plugins=(), **kwargs):
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    return ReptileLike(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        train_mb_size=50,
        plugins=plugins,
        **kwargs,
    )


def test_meta_hooks_fire_in_order_per_minibatch():
    names = hook_names(BaseTemplateHooks, SGDLoopHooks, MetaLearningHooks)
    recorder = HookRecorder([n for n in names if n != "clhost_train_dataloader"])
    strategy = _strategy([recorder])
    strategy.train(toy_benchmark().train_stream[0])
    iteration = recorder.calls[recorder.calls.index("clhost_before_training_iteration") :][:6]
    assert iteration == [
        "clhost_before_training_iteration",
        "clhost_before_inner_updates",
        "clhost_after_inner_updates",
        "clhost_before_outer_update",
        "clhost_after_outer_update",
        "clhost_after_training_iteration",
    ]
    assert recorder.calls.count("clhost_after_outer_update") == strategy.clock.train_iterations == 2


def test_single_step_hooks_are_rejected():
    class NeedsBackward:
        @clhost.hookimpl
        def clhost_after_backward(self):
            pass

    with pytest.raises(PluginCompositionError, match="never fires"):
        _strategy([NeedsBackward()])


def test_meta_template_learns():
    benchmark = toy_benchmark(n_experiences=1, classes_per_experience=4)
    strategy = _strategy(train_epochs=5)
    strategy.train(benchmark.train_stream[0])
    assert strategy.eval(benchmark.test_stream).accuracy > 0.9


class StepLearner:
    """A MetaLearner plugin: one SGD step as the inner update, nothing as the outer one."""

    def __init__(self):
        self.steps = 0

    def inner_updates(self, strategy):
        strategy.loss = strategy._criterion(strategy.forward(), strategy.mb_y)
        strategy.loss.backward()
        strategy.optimizer.step()
        self.steps += 1

    def outer_update(self, strategy):
        pass


def _template(template, plugins, **kwargs):
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return template(model=model, optimizer=optimizer, plugins=plugins, **kwargs)


def test_the_online_template_runs_a_meta_learner_plugin_with_the_meta_hooks():
    learner = StepLearner()
    recorder = HookRecorder(["clhost_before_inner_updates", "clhost_after_outer_update"])
    strategy = _template(
        OnlineMetaLearningTemplate, [learner, recorder], train_mb_size=10, train_passes=2
    )
    stream = split_online(toy_benchmark().train_stream, 20)
    strategy.train(stream)
    assert learner.steps == 2 * 200 // 10 == recorder.calls.count("clhost_after_outer_update")
    assert strategy.eval(toy_benchmark().test_stream).accuracy > 0.4


def test_a_meta_template_needs_exactly_one_meta_learner():
    benchmark = toy_benchmark()
    for plugins, found in (([], "none"), ([StepLearner(), StepLearner()], "StepLearner, Step")):
        strategy = _template(SupervisedMetaLearningTemplate, plugins)
        with pytest.raises(PluginCompositionError, match=f"found {found}"):
            strategy.train(benchmark.train_stream[0])


def test_an_online_memory_takes_every_mini_experience_when_boundaries_are_unknown():
    """first_sight: with boundaries unknown the stream is one experience whose "epochs"
    are its mini-experiences, each of them new samples."""
    from clhost.rehearsal import first_sight

    seen = []

    class Sight(StepLearner):
        @clhost.hookimpl
        def clhost_after_outer_update(self, strategy):
            seen.append(first_sight(strategy))

    strategy = _template(
        OnlineMetaLearningTemplate,
        [Sight()],
        train_mb_size=10,
        train_passes=2,
        boundaries_known=False,
    )
    strategy.train(split_online(toy_benchmark().train_stream, 20))
    assert seen == [True, False] * 20
