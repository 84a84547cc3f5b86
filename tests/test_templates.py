"""SupervisedTemplate's contract: hook order, plugin composition, stopping, periodic
evaluation, loss terms, model growth and devices."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import clhost
from clhost.errors import PluginCompositionError
from clhost.hookspecs import BaseTemplateHooks, SGDLoopHooks, SGDUpdateHooks, hook_names
from clhost.models import IncrementalMLP, SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import FittingTemplate, SupervisedTemplate
from clhost.testing import HookRecorder, toy_benchmark

SUPERVISED_HOOKS = hook_names(BaseTemplateHooks, SGDLoopHooks, SGDUpdateHooks)

TRAIN_ITERATION = [
    "clhost_before_training_iteration",
    "clhost_before_forward",
    "clhost_after_forward",
    "clhost_loss_terms",
    "clhost_before_backward",
    "clhost_after_backward",
    "clhost_before_update",
    "clhost_after_update",
    "clhost_after_training_iteration",
]
EVAL_ITERATION = [
    "clhost_before_eval_iteration",
    "clhost_before_eval_forward",
    "clhost_after_eval_forward",
    "clhost_after_eval_iteration",
]


def make_strategy(*, plugins=(), model=None, **kwargs):
    torch.manual_seed(0)
    model = (
        model if model is not None else SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    )
    optimizer = kwargs.pop("optimizer", None) or torch.optim.SGD(model.parameters(), lr=0.1)
    return SupervisedTemplate(model=model, optimizer=optimizer, plugins=plugins, **kwargs)


@pytest.fixture
def bench():
    return toy_benchmark(n_experiences=2, classes_per_experience=2, n_per_class=20)


class Named(SupervisedPlugin):
    """Appends its name to a shared log whenever ``after_training_exp`` fires."""

    def __init__(self, name: str, log: list[str]):
        self.name, self.log = name, log

    @clhost.hookimpl
    def clhost_after_training_exp(self):
        self.log.append(self.name)


# -- hook order -----------------------------------------------------------------------


def test_hooks_fire_in_documented_order(bench):
    recorder = HookRecorder(SUPERVISED_HOOKS)
    strategy = make_strategy(plugins=[recorder], train_mb_size=20, train_epochs=1)
    strategy.train(bench.train_stream[0])  # 40 samples: two iterations
    strategy.eval(bench.test_stream[0])  # 40 samples, eval_mb_size 20: two iterations

    expected_train = [
        "clhost_before_training",
        "clhost_before_train_dataset_adaptation",
        "clhost_after_train_dataset_adaptation",
        "clhost_train_dataloader",
        "clhost_before_training_exp",
        "clhost_before_training_epoch",
        *TRAIN_ITERATION,
        *TRAIN_ITERATION,
        "clhost_after_training_epoch",
        "clhost_after_training_exp",
        "clhost_after_training",
    ]
    expected_eval = [
        "clhost_before_eval",
        "clhost_before_eval_dataset_adaptation",
        "clhost_after_eval_dataset_adaptation",
        "clhost_before_eval_exp",
        *EVAL_ITERATION,
        *EVAL_ITERATION,
        "clhost_after_eval_exp",
        "clhost_after_eval",
    ]
    assert recorder.calls == expected_train + expected_eval


def test_every_hook_of_the_template_is_reachable(bench):
    recorder = HookRecorder(SUPERVISED_HOOKS)
    strategy = make_strategy(plugins=[recorder], eval_every=1)
    strategy.train(bench.train_stream, eval_streams=[bench.test_stream])
    assert set(recorder.calls) == set(SUPERVISED_HOOKS)


def test_plugins_are_called_in_user_order_then_evaluator_and_clock(bench):
    log: list[str] = []
    strategy = make_strategy(plugins=[Named("b", log), Named("a", log), Named("c", log)])
    order = strategy.hooks.call_order()["clhost_after_training_exp"]
    assert order == ["b", "a", "c", "evaluator", "Clock"]
    strategy.train(bench.train_stream[0])
    assert log == ["b", "a", "c"]


def test_evaluator_none_leaves_only_the_clock():
    strategy = make_strategy(plugins=[Named("a", [])], evaluator=None)
    assert strategy.hooks.call_order()["clhost_after_training_exp"] == ["a", "Clock"]


# -- composition errors at construction -------------------------------------------------


class Misspelled(SupervisedPlugin):
    @clhost.hookimpl
    def clhost_after_trainig_exp(self):
        pass


class MetaOnly(SupervisedPlugin):
    @clhost.hookimpl
    def clhost_before_inner_updates(self):
        pass


class Unmarked(SupervisedPlugin):
    def clhost_after_training_exp(self, strategy):
        pass


class Loader(SupervisedPlugin):
    def __init__(self, name: str):
        self.name = name

    @clhost.hookimpl
    def clhost_train_dataloader(self, strategy):
        return None


def test_misspelled_hook_is_an_error_naming_plugin_and_fix():
    with pytest.raises(PluginCompositionError, match="Misspelled") as error:
        make_strategy(plugins=[Misspelled()])
    assert "clhost_after_trainig_exp" in str(error.value)
    assert "did you mean clhost_after_training_exp" in str(error.value)


def test_hook_the_template_never_fires_is_an_error():
    with pytest.raises(PluginCompositionError, match="MetaOnly.*clhost_before_inner_updates"):
        make_strategy(plugins=[MetaOnly()])


def test_unmarked_hook_method_is_an_error():
    with pytest.raises(PluginCompositionError, match="Unmarked.*not marked"):
        make_strategy(plugins=[Unmarked()])


def test_two_dataloader_replacers_are_an_error_naming_both():
    with pytest.raises(PluginCompositionError, match="first and second.*clhost_train_dataloader"):
        make_strategy(plugins=[Loader("first"), Loader("second")])


def test_the_same_plugin_twice_is_an_error():
    plugin = Named("a", [])
    with pytest.raises(PluginCompositionError, match="given twice"):
        make_strategy(plugins=[plugin, plugin])


def test_unknown_keyword_lists_valid_ones():
    with pytest.raises(TypeError) as error:
        make_strategy(train_mb_sise=4)
    message = str(error.value)
    assert "train_mb_sise" in message and "did you mean train_mb_size" in message
    for valid in ("model", "optimizer", "train_epochs", "eval_every", "plugins"):
        assert valid in message


def test_positional_arguments_are_refused():
    model = SimpleMLP(num_classes=2, input_size=8)
    with pytest.raises(TypeError, match="keyword arguments only"):
        SupervisedTemplate(model, torch.optim.SGD(model.parameters(), lr=0.1))


# -- loop control -----------------------------------------------------------------------


class StopAt(SupervisedPlugin):
    """Requests a stop from one hook at a given clock value."""

    def __init__(self, *, iteration: int | None = None, epoch: int | None = None):
        self.iteration, self.epoch = iteration, epoch

    @clhost.hookimpl
    def clhost_after_training_iteration(self, strategy):
        if strategy.clock.train_exp_iterations + 1 == self.iteration:
            strategy.stop_training()

    @clhost.hookimpl
    def clhost_before_training_epoch(self, strategy):
        if strategy.clock.train_exp_epochs == self.epoch:
            strategy.stop_training()


def test_stop_training_ends_the_experience_after_the_current_iteration(bench):
    strategy = make_strategy(plugins=[StopAt(iteration=3)], train_mb_size=10, train_epochs=5)
    result = strategy.train(bench.train_stream[0])  # 4 iterations per epoch
    assert (result.iterations, result.epochs) == (3, 1)
    result = strategy.train(bench.train_stream[1])  # the request does not outlive its experience
    assert (result.iterations, result.epochs) == (3, 1)


def test_stop_training_before_an_epoch_runs_no_more_epochs(bench):
    recorder = HookRecorder(["clhost_before_training_epoch", "clhost_after_training_epoch"])
    strategy = make_strategy(plugins=[StopAt(epoch=2), recorder], train_mb_size=10, train_epochs=5)
    result = strategy.train(bench.train_stream[0])
    assert (result.epochs, result.iterations) == (2, 8)
    assert recorder.calls.count("clhost_after_training_epoch") == 2


class EvalCounter(SupervisedPlugin):
    """Records the clock each time an evaluation starts during training."""

    def __init__(self):
        self.at: list[tuple[int, int]] = []

    @clhost.hookimpl
    def clhost_before_eval(self, strategy):
        self.at.append((strategy.clock.train_exp_epochs, strategy.clock.train_exp_iterations))


def test_periodic_eval_by_epoch(bench):
    counter = EvalCounter()
    strategy = make_strategy(
        plugins=[counter], train_mb_size=10, train_epochs=4, eval_every=2, peval_mode="epoch"
    )
    strategy.train(bench.train_stream[0], eval_streams=[bench.test_stream])
    assert counter.at == [(2, 8), (4, 16)]


def test_periodic_eval_by_iteration(bench):
    counter = EvalCounter()
    strategy = make_strategy(
        plugins=[counter], train_mb_size=10, train_epochs=2, eval_every=3, peval_mode="iteration"
    )
    strategy.train(bench.train_stream[0], eval_streams=[bench.test_stream[:1]])
    assert [iterations for _, iterations in counter.at] == [3, 6]


def test_eval_every_zero_evaluates_after_each_experience(bench):
    counter = EvalCounter()
    strategy = make_strategy(plugins=[counter], eval_every=0, train_epochs=2)
    strategy.train(bench.train_stream, eval_streams=[bench.test_stream])
    assert counter.at == [(2, 4), (2, 4)]


def test_periodic_eval_leaves_training_state_untouched(bench):
    seen = []

    class Watch(SupervisedPlugin):
        @clhost.hookimpl
        def clhost_before_training_iteration(self, strategy):
            seen.append((strategy.experience.origin_stream, strategy.model.training))

    strategy = make_strategy(
        plugins=[Watch()], train_mb_size=10, eval_every=1, peval_mode="iteration"
    )
    strategy.train(bench.train_stream[0], eval_streams=[bench.test_stream])
    assert seen == [("train", True)] * 4


# -- loss terms -------------------------------------------------------------------------


class L2Term(SupervisedPlugin):
    def __init__(self, weight: float):
        self.weight = weight

    @clhost.hookimpl
    def clhost_loss_terms(self, strategy):
        squares = sum((p**2).sum() for p in strategy.model.parameters())
        return [("l2", self.weight * squares), ("constant", torch.tensor(1.5))]


class LossSpy(SupervisedPlugin):
    def __init__(self):
        self.base, self.total, self.terms = [], [], []

    @clhost.hookimpl
    def clhost_after_forward(self, strategy):
        self.base.append(strategy._criterion(strategy.mb_output, strategy.mb_y).detach())

    @clhost.hookimpl
    def clhost_before_backward(self, strategy):
        self.total.append(strategy.loss.detach())
        self.terms.append({k: v.detach() for k, v in strategy.loss_terms.items()})


def test_loss_terms_are_added_to_the_loss_and_recorded(bench):
    spy = LossSpy()
    strategy = make_strategy(plugins=[L2Term(0.01), spy], train_mb_size=40)
    strategy.train(bench.train_stream[0])
    (base,), (total,), (terms,) = spy.base, spy.total, spy.terms
    assert set(terms) == {"l2", "constant"}
    assert terms["l2"] > 0 and terms["constant"] == 1.5
    torch.testing.assert_close(total, base + terms["l2"] + terms["constant"])


def test_loss_terms_change_the_gradients(bench):
    def trained(plugins):
        strategy = make_strategy(plugins=plugins, train_mb_size=40)
        strategy.train(bench.train_stream[0])
        return torch.cat([p.detach().flatten() for p in strategy.model.parameters()])

    plain, decayed = trained([]), trained([L2Term(1.0)])
    assert decayed.norm() < plain.norm() - 0.05


class SingleTerm(SupervisedPlugin):
    @clhost.hookimpl
    def clhost_loss_terms(self):
        return ("one", torch.tensor(1.0))


def test_a_single_pair_is_a_loss_term(bench):
    spy = LossSpy()
    strategy = make_strategy(plugins=[SingleTerm(), spy], train_mb_size=40)
    strategy.train(bench.train_stream[0])
    torch.testing.assert_close(spy.total[0], spy.base[0] + 1.0)


# -- models that grow, and unseen classes ------------------------------------------------


def test_model_growth_keeps_optimizer_state_of_unchanged_parameters(bench):
    torch.manual_seed(0)
    model = IncrementalMLP(input_size=8, hidden_sizes=(16,), initial_out_features=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    strategy = make_strategy(model=model, optimizer=optimizer)
    strategy.train(bench.train_stream[0])
    body = model.features[1].weight
    momentum = optimizer.state[body]["momentum_buffer"].clone()
    head_momentum = optimizer.state[model.classifier.classifier.weight]["momentum_buffer"].clone()

    snapshots = {}

    class Snapshot(SupervisedPlugin):
        @clhost.hookimpl
        def clhost_before_training_exp(self, strategy):
            head = strategy.model.classifier.classifier.weight
            snapshots["body"] = optimizer.state[body]["momentum_buffer"].clone()
            snapshots["head"] = optimizer.state[head]["momentum_buffer"].clone()
            snapshots["params"] = {id(p) for g in optimizer.param_groups for p in g["params"]}

    strategy = make_strategy(model=model, optimizer=optimizer, plugins=[Snapshot()])
    strategy.train(bench.train_stream[1])
    head = model.classifier.classifier.weight
    assert head.shape[0] == 4 and model.features[1].weight is body
    torch.testing.assert_close(snapshots["body"], momentum)
    torch.testing.assert_close(snapshots["head"][:2], head_momentum)
    assert snapshots["head"][2:].abs().sum() == 0
    assert snapshots["params"] == {id(p) for p in model.parameters()}


def test_eval_on_a_future_experience_with_unseen_classes(bench):
    model = IncrementalMLP(input_size=8, hidden_sizes=(16,), initial_out_features=2)
    strategy = make_strategy(model=model)
    strategy.train(bench.train_stream[0])
    result = strategy.eval(bench.test_stream)
    assert result.per_experience[0]["accuracy"] > 0.9
    assert result.per_experience[1]["accuracy"] == 0.0
    assert torch.isfinite(torch.tensor(result.per_experience[1]["loss"]))


# -- devices ----------------------------------------------------------------------------


class DeviceSpy(SupervisedPlugin):
    def __init__(self):
        self.devices = set()

    @clhost.hookimpl
    def clhost_after_forward(self, strategy):
        self.devices |= {strategy.mb_x.device.type, strategy.mb_output.device.type}

    @clhost.hookimpl
    def clhost_after_eval_forward(self, strategy):
        self.devices |= {strategy.mb_x.device.type, strategy.mb_output.device.type}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_training_keeps_tensors_on_the_device(bench):
    spy = DeviceSpy()
    model = IncrementalMLP(input_size=8, hidden_sizes=(16,), initial_out_features=2)
    strategy = make_strategy(model=model, plugins=[spy], device="cuda")
    for experience in bench.train_stream:
        strategy.train(experience)
    result = strategy.eval(bench.test_stream)
    assert spy.devices == {"cuda"}
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert result.per_experience[1]["accuracy"] > 0.9


def test_cpu_training_reaches_high_accuracy(bench):
    spy = DeviceSpy()
    strategy = make_strategy(plugins=[spy], train_epochs=2)
    strategy.train(bench.train_stream[0])
    assert spy.devices == {"cpu"}
    assert strategy.eval(bench.test_stream[0]).accuracy > 0.9


def test_model_must_be_a_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        SupervisedTemplate(
            model=lambda x: x, optimizer=torch.optim.SGD([nn.Parameter(torch.ones(1))])
        )


def test_a_template_learning_without_gradients_has_no_optimizer():
    class GradientFree(SupervisedTemplate):
        LEARNS_BY_GRADIENT = False

    model = nn.Linear(4, 2)
    strategy = GradientFree(model=model, optimizer=None, evaluator=None)
    assert strategy.optimizer is None and "optimizer" not in strategy.state_dict()
    strategy.load_state_dict(strategy.state_dict())
    with_optimizer = SupervisedTemplate(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), evaluator=None
    )
    with pytest.raises(clhost.errors.CheckpointError, match="has an optimizer"):
        strategy.load_state_dict(with_optimizer.state_dict())
    with pytest.raises(TypeError, match="learns without gradients"):
        GradientFree(model=model, optimizer=with_optimizer.optimizer)
    with pytest.raises(TypeError, match="optimizer must be"):
        SupervisedTemplate(model=model, optimizer=None)


class Counting(FittingTemplate):
    """Scores every sample by how many samples it had fitted before."""

    def __init__(self, **template):
        self.fitted = 0
        super().__init__(nn.Linear(8, 4), **template)

    def minibatch_features(self):
        return self.mb_x

    def training_scores(self, features):
        return torch.full((len(features), 4), float(self.fitted))

    def fit(self, features, targets):
        self.fitted += len(targets)


class TrainingOutputs(SupervisedPlugin):
    def __init__(self):
        self.scores: list[float] = []

    @clhost.hookimpl
    def clhost_after_training_iteration(self, strategy):
        self.scores.append(strategy.mb_output[0, 0].item())


def test_a_fitting_template_scores_each_minibatch_before_fitting_it(bench):
    outputs = TrainingOutputs()
    strategy = Counting(train_mb_size=10, plugins=[outputs], evaluator=None)
    strategy.train(bench.train_stream[0])
    assert outputs.scores == [0.0, 10.0, 20.0, 30.0] and strategy.fitted == 40
    assert strategy.optimizer is None and "optimizer" not in strategy.state_dict()
    with pytest.raises(TypeError, match="unknown keyword.*optimizer"):
        Counting(optimizer=torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1))
