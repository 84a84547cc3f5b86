"""The online template: one pass per mini-experience, cheap per-mini-experience work, and
the documented hook semantics with and without known boundaries."""

import pytest
import torch

import clhost
from clhost.benchmarks import split_online
from clhost.data import Experience, Stream, TensorData
from clhost.errors import ParameterError
from clhost.models import IncrementalMLP, SimpleMLP
from clhost.templates import OnlineSupervisedTemplate
from clhost.templates import online as online_module
from clhost.testing import HookRecorder, toy_benchmark

PER_MINI_EXPERIENCE = [
    "clhost_before_train_dataset_adaptation",
    "clhost_after_train_dataset_adaptation",
    "clhost_before_training_epoch",
    "clhost_after_training_epoch",
]
LOOP_HOOKS = [
    "clhost_before_training",
    "clhost_before_training_exp",
    *PER_MINI_EXPERIENCE,
    "clhost_before_training_iteration",
    "clhost_after_training_iteration",
    "clhost_after_training_exp",
    "clhost_after_training",
]


def _mini_stream(n_experiences=2, size=10):
    """Toy class-incremental stream (2 x 100 samples) cut into mini-experiences of 10."""
    return split_online(toy_benchmark(n_experiences).train_stream, size, shuffle=True, seed=0)


def _strategy(model=None, **kwargs):
    torch.manual_seed(0)
    model = model or SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    kwargs.setdefault("optimizer", torch.optim.SGD(model.parameters(), lr=0.1))
    return OnlineSupervisedTemplate(model=model, **kwargs)


class BatchLog(clhost.SupervisedPlugin):
    """Records the targets of every training minibatch and the pass index it is in."""

    def __init__(self):
        self.targets, self.passes = [], []

    @clhost.hookimpl
    def clhost_before_training_iteration(self, strategy):
        self.targets.append(strategy.mb_y.clone())
        self.passes.append(strategy.train_pass)


def test_single_pass_trains_each_sample_once_in_stream_order():
    stream = _mini_stream()
    log = BatchLog()
    result = _strategy(plugins=[log]).train(stream)
    assert result.iterations == len(stream) == 20
    seen = torch.cat(log.targets)
    expected = torch.cat([exp.dataset.y for exp in stream])
    assert torch.equal(seen, expected)


def test_train_passes_repeat_each_minibatch_consecutively():
    stream = _mini_stream()[:3]
    log = BatchLog()
    result = _strategy(plugins=[log], train_passes=3).train(stream)
    assert result.iterations == 9
    assert log.passes == [0, 1, 2] * 3
    for index, exp in enumerate(stream):
        for repeat in range(3):
            assert torch.equal(log.targets[3 * index + repeat], exp.dataset.y)


def test_larger_experiences_are_cut_into_minibatches_without_a_dataloader(monkeypatch):
    built = []
    monkeypatch.setattr(torch.utils.data, "DataLoader", lambda *a, **k: built.append(a))
    monkeypatch.setattr(clhost.templates.sgd, "make_loader", lambda *a, **k: built.append(a))
    stream = toy_benchmark(2).train_stream  # two experiences of 100 samples
    result = _strategy(train_mb_size=30).train(stream)
    assert result.iterations == 2 * 4  # 30 + 30 + 30 + 10 per experience
    assert built == []


def test_no_loader_is_built_per_mini_experience(monkeypatch):
    counts = {"loaders": 0, "minibatches": 0}

    def counting_loader(*args, **kwargs):
        counts["loaders"] += 1
        raise AssertionError("the online template built a loader")

    original = online_module.minibatches

    def counting_minibatches(*args):
        counts["minibatches"] += 1
        return original(*args)

    monkeypatch.setattr(clhost.templates.sgd, "make_loader", counting_loader)
    monkeypatch.setattr(torch.utils.data, "DataLoader", counting_loader)
    monkeypatch.setattr(online_module, "minibatches", counting_minibatches)
    stream = _mini_stream()
    _strategy().train(stream)
    assert counts == {"loaders": 0, "minibatches": len(stream)}


def test_a_mini_experience_of_one_minibatch_is_trained_on_its_own_tensors():
    data = TensorData(torch.randn(10, 8), torch.arange(10) % 4)
    assert online_module.minibatches(data, 10)[0][0] is data.x


def test_other_datasets_are_collated_by_hand():
    dataset = torch.utils.data.TensorDataset(torch.randn(25, 8), torch.arange(25) % 4)
    experience = Experience(dataset, 0, classes_in_this_experience=(0, 1, 2, 3))
    log = BatchLog()
    result = _strategy(plugins=[log]).train(experience)
    assert result.iterations == 3
    assert [len(targets) for targets in log.targets] == [10, 10, 5]


def test_known_boundaries_fire_experience_hooks_per_mini_experience():
    stream = _mini_stream()[:3]
    recorder = HookRecorder(LOOP_HOOKS)
    _strategy(plugins=[recorder], boundaries_known=True).train(stream)
    per_exp = [
        "clhost_before_train_dataset_adaptation",
        "clhost_after_train_dataset_adaptation",
        "clhost_before_training_exp",
        "clhost_before_training_epoch",
        "clhost_before_training_iteration",
        "clhost_after_training_iteration",
        "clhost_after_training_epoch",
        "clhost_after_training_exp",
    ]
    assert recorder.calls == ["clhost_before_training", *per_exp * 3, "clhost_after_training"]


def test_unknown_boundaries_fire_experience_hooks_once_per_stream():
    stream = _mini_stream()[:3]
    recorder = HookRecorder(LOOP_HOOKS)
    _strategy(plugins=[recorder], boundaries_known=False).train(stream)
    prepare = [
        "clhost_before_train_dataset_adaptation",
        "clhost_after_train_dataset_adaptation",
    ]
    epoch = [
        "clhost_before_training_epoch",
        "clhost_before_training_iteration",
        "clhost_after_training_iteration",
        "clhost_after_training_epoch",
    ]
    assert recorder.calls == [
        "clhost_before_training",
        *prepare,
        "clhost_before_training_exp",
        *epoch,
        *(prepare + epoch) * 2,
        "clhost_after_training_exp",
        "clhost_after_training",
    ]


class ExperienceSpy(clhost.SupervisedPlugin):
    """Records which experience is current at the experience hooks."""

    def __init__(self):
        self.opened, self.closed = [], []

    @clhost.hookimpl
    def clhost_before_training_exp(self, strategy):
        self.opened.append(strategy.experience.current_experience)

    @clhost.hookimpl
    def clhost_after_training_exp(self, strategy):
        self.closed.append(strategy.experience.current_experience)


@pytest.mark.parametrize("known", [True, False])
def test_experience_seen_at_the_boundaries(known):
    stream = _mini_stream()
    spy = ExperienceSpy()
    strategy = _strategy(plugins=[spy], boundaries_known=known)
    strategy.train(stream)
    indices = [exp.current_experience for exp in stream]
    assert spy.opened == (indices if known else [indices[0]])
    assert spy.closed == (indices if known else [indices[-1]])
    assert strategy.clock.train_exp_counter == (len(stream) if known else 1)
    assert strategy.clock.train_epochs == len(stream)


class OriginBoundaries(clhost.SupervisedPlugin):
    """What a method allowed to know task boundaries sees at the end of each experience."""

    def __init__(self):
        self.ends = []

    @clhost.hookimpl
    def clhost_after_training_exp(self, strategy):
        if strategy.experience.is_last_subexp:
            self.ends.append(strategy.experience.origin_experience)


def test_known_boundaries_let_plugins_find_the_original_experiences():
    plugin = OriginBoundaries()
    _strategy(plugins=[plugin], boundaries_known=True).train(_mini_stream())
    assert plugin.ends == [0, 1]


class Stopper(clhost.SupervisedPlugin):
    def __init__(self, after):
        self.after, self.iterations = after, 0

    @clhost.hookimpl
    def clhost_after_training_iteration(self, strategy):
        self.iterations += 1
        if self.iterations == self.after:
            strategy.stop_training()


def test_stop_training_without_boundaries_ends_the_stream():
    recorder = HookRecorder(["clhost_after_training_exp", "clhost_after_training"])
    result = _strategy(plugins=[Stopper(3), recorder], boundaries_known=False).train(_mini_stream())
    assert result.iterations == 3
    assert recorder.calls == ["clhost_after_training_exp", "clhost_after_training"]


def test_stop_training_with_boundaries_ends_one_mini_experience():
    stopper = Stopper(2)
    result = _strategy(plugins=[stopper], boundaries_known=True, train_passes=3).train(
        _mini_stream()[:2]
    )
    assert result.iterations == 2 + 3


class Counter:
    def __init__(self, strategy):
        self.adaptations = 0
        self.optimizer_refreshes = 0
        adapt, refresh = strategy.model_adaptation, strategy.make_optimizer

        def counted_adaptation(experience):
            self.adaptations += 1
            adapt(experience)

        def counted_refresh():
            self.optimizer_refreshes += 1
            refresh()

        strategy.model_adaptation = counted_adaptation
        strategy.make_optimizer = counted_refresh


def test_model_adapts_and_optimizer_refreshes_only_when_classes_are_new():
    stream = _mini_stream(n_experiences=2)  # classes 0,1 then 2,3, shuffled in each
    model = IncrementalMLP(input_size=8, hidden_sizes=(16,), initial_out_features=2)
    strategy = _strategy(model=model)
    counter = Counter(strategy)
    strategy.train(stream)
    new_classes = sum(
        1
        for before, exp in zip([None, *stream], stream, strict=False)
        if before is None or set(exp.classes_seen_so_far) > set(before.classes_seen_so_far)
    )
    assert counter.adaptations == new_classes < len(stream)
    assert counter.optimizer_refreshes == 1  # only when classes 2, 3 made the head grow
    assert model.classifier.out_features == 4
    assert strategy.eval(toy_benchmark(2).test_stream).metrics["accuracy"] > 0.5


def test_optimizer_state_survives_mini_experiences():
    stream = _mini_stream()
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    strategy = _strategy(model=model, optimizer=optimizer)
    strategy.train(stream[:1])
    buffer = optimizer.state[model.classifier.weight]["momentum_buffer"]
    strategy.train(stream[1:2])
    assert optimizer.state[model.classifier.weight]["momentum_buffer"] is buffer


def test_periodic_eval_counts_mini_experiences_over_the_stream():
    test = toy_benchmark(2).test_stream
    evaluations = HookRecorder(["clhost_before_eval"])
    strategy = _strategy(plugins=[evaluations], eval_every=4, boundaries_known=True)
    strategy.train(_mini_stream(), eval_streams=[test])
    assert len(evaluations.calls) == 20 // 4


def test_online_template_learns_a_stream_in_one_pass():
    benchmark = toy_benchmark(1, classes_per_experience=4)
    stream = split_online(benchmark.train_stream, 10, shuffle=True, seed=0)
    strategy = _strategy()
    strategy.train(stream)
    assert strategy.eval(benchmark.test_stream).metrics["accuracy"] > 0.9


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="train_passes"):
        _strategy(train_passes=0)
    with pytest.raises(ParameterError, match="boundaries_known"):
        _strategy(boundaries_known="no")
    with pytest.raises(TypeError, match="train_epochs"):
        _strategy(train_epochs=2)


def test_mini_experiences_built_by_hand_work_too():
    data = TensorData(torch.randn(20, 8), torch.arange(20) % 4)
    pieces = [
        Experience(data.subset(range(i, i + 10)), i // 10, classes_in_this_experience=(0, 1, 2, 3))
        for i in (0, 10)
    ]
    result = _strategy().train(Stream("train", pieces))
    assert result.iterations == 2


class DoubledBatches(clhost.SupervisedPlugin):
    """Fills the dataloader slot: each mini-experience's samples twice in one minibatch."""

    def __init__(self):
        self.built = 0

    @clhost.hookimpl
    def clhost_train_dataloader(self, strategy):
        self.built += 1
        data = strategy.adapted_dataset
        return [tuple(torch.cat((tensor, tensor)) for tensor in data.tensors)]


def test_a_plugin_filling_the_dataloader_slot_is_asked_per_mini_experience():
    stream = _mini_stream()[:4]
    doubled, log = DoubledBatches(), BatchLog()
    result = _strategy(plugins=[doubled, log]).train(stream)
    assert doubled.built == 4 and result.iterations == 4
    assert [len(targets) for targets in log.targets] == [20] * 4


@pytest.mark.parametrize("known, expected", [(True, 3), (False, 1)])
def test_eval_every_zero_evaluates_after_each_experience_as_the_hooks_see_it(known, expected):
    evaluations = HookRecorder(["clhost_before_eval"])
    strategy = _strategy(plugins=[evaluations], eval_every=0, boundaries_known=known)
    strategy.train(_mini_stream()[:3], eval_streams=[toy_benchmark(2).test_stream])
    assert len(evaluations.calls) == expected
