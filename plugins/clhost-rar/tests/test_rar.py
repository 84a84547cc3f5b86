"""RAR: buffered samples are paired with their nearest current neighbour of another class,
pushed toward its class by a bounded targeted FGSM, replayed through named loss terms
(with MixUp on request), and the memory remembers Split Digits where finetuning forgets."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import clhost
from clhost import testing as kit
from clhost.benchmarks import split_digits
from clhost.data import TensorData
from clhost.errors import CheckpointError, ParameterError, UnknownNameError
from clhost.models import IncrementalMLP, MultiHeadMLP, SimpleMLP
from clhost.templates import SupervisedTemplate
from clhost.testing import assert_plugin_resumes, toy_benchmark
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_buffer_reservoir import ReservoirSamplingBuffer
from clhost_early_stopping import EarlyStoppingPlugin
from clhost_lr_scheduler import LRSchedulerPlugin
from clhost_rar import (
    RAR,
    RARPlugin,
    forward_with_latent,
    mixup,
    nearest_neighbours,
    targeted_fgsm,
)
from clhost_replay import ReplayPlugin


class TermRecorder(clhost.SupervisedPlugin):
    """Placed after RARPlugin: the loss terms of every iteration, per experience."""

    def __init__(self):
        self.terms: list[list[dict[str, float]]] = []

    @clhost.hookimpl
    def clhost_before_training_exp(self, strategy):
        self.terms.append([])

    @clhost.hookimpl
    def clhost_after_training_iteration(self, strategy):
        self.terms[-1].append({name: float(v.detach()) for name, v in strategy.loss_terms.items()})


class LatentIsInput(nn.Module):
    """A linear classifier whose latent space is its input, for hand-built pairings."""

    def __init__(self, n_features: int = 2, n_classes: int = 4):
        super().__init__()
        self.features = nn.Identity()
        self.classifier = nn.Linear(n_features, n_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def _strategy(model, *plugins, lr=0.05, **options):
    return SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=lr),
        plugins=list(plugins),
        **{"evaluator": None, **options},
    )


def _labels(*values):
    return torch.tensor(values, dtype=torch.long)


def test_fgsm_raises_the_target_score_within_the_sum_of_step_sizes():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    x, t = torch.randn(12, 8), torch.zeros(12, dtype=torch.long)
    target = torch.randint(0, 4, (12,))
    for decay, iterations in ((1.0, 2), (0.5, 3)):
        perturbed = targeted_fgsm(
            model, x, t, target, epsilon=0.0314, iterations=iterations, decay=decay
        )
        steps = sum(0.0314 * decay**k for k in range(iterations))
        assert (perturbed - x).abs().amax() <= steps + 1e-6
        assert (perturbed - x).abs().amax() > 0.0314 - 1e-6
        with torch.no_grad():
            before = F.log_softmax(model(x), 1).gather(1, target[:, None])
            after = F.log_softmax(model(perturbed), 1).gather(1, target[:, None])
        assert (after > before).all()
    assert all(p.grad is None for p in model.parameters())  # only the input's gradient


def test_nearest_neighbour_of_another_class_and_the_same_task():
    memory = torch.tensor([[0.0, 0.0], [10.0, 10.0], [5.0, -5.0]])
    current = torch.tensor([[1.0, 0.0], [2.0, 0.0], [9.0, 9.0], [10.0, 12.0]])
    memory_y, current_y = _labels(0, 1, 1), _labels(0, 2, 3, 1)
    nearest, found = nearest_neighbours(memory, current, memory_y, current_y)
    # (1, 0) is closer to the first sample but of its own class; (10, 12) likewise.
    assert nearest.tolist() == [1, 2, 1] and found.all()
    nearest, found = nearest_neighbours(
        memory, current, memory_y, current_y, _labels(0, 1, 0), _labels(0, 0, 0, 1)
    )
    assert found.tolist() == [True, False, True]  # task 1 holds only its own class
    assert nearest[found].tolist() == [1, 1]


def test_plugin_attacks_each_buffered_sample_toward_its_neighbours_class():
    torch.manual_seed(0)
    model = LatentIsInput()
    plugin = RARPlugin(epsilon_fgsm=0.1, iter_fgsm=3, decay_factor_fgsm=0.5)
    stored = (
        torch.tensor([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0]]),
        _labels(0, 1, 2),
        _labels(0, 0, 0),
    )
    current = (
        torch.tensor([[2.0, 0.0], [9.0, 9.0], [4.0, 5.0]]),
        _labels(3, 2, 2),
        _labels(0, 0, 0),
    )
    perturbed, y, t = plugin.adversarial_samples(model, stored, current)
    expected = targeted_fgsm(
        model, stored[0], stored[2], _labels(3, 2, 3), epsilon=0.1, iterations=3, decay=0.5
    )
    assert torch.equal(perturbed, expected) and torch.equal(y, stored[1])
    with torch.no_grad():
        before = F.softmax(model(stored[0]), 1)[torch.arange(3), _labels(3, 2, 3)]
        after = F.softmax(model(perturbed), 1)[torch.arange(3), _labels(3, 2, 3)]
    assert (after > before).all()
    same_class = (stored[0], _labels(0, 0, 0), stored[2])
    assert (
        plugin.adversarial_samples(model, same_class, (current[0], _labels(0, 0, 0), current[2]))
        is None
    )


def test_attack_runs_in_eval_mode_and_restores_training_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
    statistics = model[1].running_mean.clone()
    plugin = RARPlugin()
    stored = (torch.randn(5, 2), _labels(0, 0, 1, 1, 0), torch.zeros(5, dtype=torch.long))
    current = (torch.randn(6, 2), _labels(2, 2, 3, 3, 2, 3), torch.zeros(6, dtype=torch.long))
    assert plugin.adversarial_samples(model, stored, current) is not None
    assert model.training and torch.equal(model[1].running_mean, statistics)


def test_latent_space_defaults_to_features_else_the_penultimate_layer():
    torch.manual_seed(0)
    x, t = torch.randn(5, 8), torch.zeros(5, dtype=torch.long)
    mlp = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16, 6))
    output, latent = forward_with_latent(mlp, x, t)
    assert torch.equal(latent, mlp.features(x)) and torch.equal(output, mlp(x))
    _, first_hidden = forward_with_latent(mlp, x, t, "features.2")
    assert torch.equal(first_hidden, mlp.features[:3](x))
    plain = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    _, penultimate = forward_with_latent(plain, x, t)
    assert torch.equal(penultimate, plain[:2](x))
    with pytest.raises(UnknownNameError, match="features"):
        forward_with_latent(mlp, x, t, "feature")


def test_terms_appear_after_the_first_experience():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    recorder = TermRecorder()
    _strategy(model, RARPlugin(), recorder).train(toy_benchmark(2, 2).train_stream)
    first, second = recorder.terms
    assert all(terms == {} for terms in first)
    assert all(set(terms) == {"rar-replay", "rar-adversarial"} for terms in second)
    assert all(terms["rar-adversarial"] > 0 for terms in second)

    plain = TermRecorder()
    _strategy(model, RARPlugin(use_adversarial_replay=False), plain).train(
        toy_benchmark(2, 2).train_stream
    )
    assert all(set(terms) == {"rar-replay"} for terms in plain.terms[1])


def _terms_on_a_second_minibatch(replay_weighting="separate"):
    """RAR's loss terms (beta 0.25, 6 replayed) on a minibatch of the second experience
    after training on the first, with the memory and the rows it drew (same seed)."""
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    plugin = RARPlugin(batch_size_mem=6, beta_coef=0.25, replay_weighting=replay_weighting)
    benchmark = toy_benchmark(2, 2)
    strategy = _strategy(model, plugin)
    strategy.train(benchmark.train_stream[0])
    plugin.clhost_before_training_exp(strategy)
    current = benchmark.train_stream[1].dataset.subset(range(0, 100, 10))
    strategy.mbatch = current.tensors[:3]
    strategy.mb_output = model(current.x)
    torch.manual_seed(3)
    terms = dict(plugin.clhost_loss_terms(strategy))
    torch.manual_seed(3)
    memory = plugin.storage_policy.buffer
    return model, plugin, current, terms, memory, torch.randperm(len(memory))[:6]


def test_adversarial_term_is_beta_times_the_cross_entropy_of_the_attacked_samples():
    model, plugin, current, terms, memory, chosen = _terms_on_a_second_minibatch()
    stored = (memory.x[chosen], memory.y[chosen], memory.t[chosen])
    perturbed, y, _ = plugin.adversarial_samples(model, stored, current.tensors[:3])
    assert torch.allclose(terms["rar-adversarial"], 0.25 * F.cross_entropy(model(perturbed), y))
    assert torch.allclose(terms["rar-replay"], F.cross_entropy(model(stored[0]), stored[1]))


def test_joint_weighting_averages_current_and_replayed_samples_in_one_mean():
    """replay_weighting="joint": the strategy's loss plus "rar-replay" is experience
    replay's one mean over the joined minibatch (10 current, 6 replayed); the
    adversarial term is unchanged."""
    model, plugin, current, terms, memory, chosen = _terms_on_a_second_minibatch("joint")
    joined = F.cross_entropy(
        model(torch.cat((current.x, memory.x[chosen]))), torch.cat((current.y, memory.y[chosen]))
    )
    current_loss = F.cross_entropy(model(current.x), current.y)
    assert torch.allclose(current_loss + terms["rar-replay"], joined)
    perturbed, y, _ = plugin.adversarial_samples(
        model, (memory.x[chosen], memory.y[chosen], memory.t[chosen]), current.tensors[:3]
    )
    assert torch.allclose(terms["rar-adversarial"], 0.25 * F.cross_entropy(model(perturbed), y))


def test_mixup_blends_each_sample_with_a_partner_of_its_task():
    torch.manual_seed(0)
    x, t = torch.randn(9, 4), _labels(0, 1, 0, 1, 1, 0, 2, 2, 1)
    mixed, partner, lam = mixup(x, t, 0.2, same_task=True)
    assert sorted(partner.tolist()) == list(range(9)) and torch.equal(t[partner], t)
    assert 0 < float(lam) < 1
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[partner])
    assert not torch.allclose(mixed, x)


def test_mixup_option_replays_mixed_samples_with_mixed_labels():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    plugin = RARPlugin(batch_size_mem=8, use_adversarial_replay=False, use_mixup=True)
    plugin.storage_policy.update_from_data(toy_benchmark(2, 2).train_stream[0].dataset)
    strategy = SimpleNamespace(model=model, device=torch.device("cpu"), mbatch=())
    plugin.clhost_before_training_exp(strategy)
    torch.manual_seed(5)
    replayed = dict(plugin.clhost_loss_terms(strategy))["rar-replay"]
    torch.manual_seed(5)
    memory = plugin.storage_policy.buffer
    chosen = torch.randperm(len(memory))[:8]
    x, y = memory.x[chosen], memory.y[chosen]
    mixed, partner, lam = mixup(x, memory.t[chosen], 0.2, same_task=False)
    output = model(mixed)
    expected = lam * F.cross_entropy(output, y) + (1 - lam) * F.cross_entropy(output, y[partner])
    assert torch.allclose(replayed, expected)
    assert not torch.allclose(replayed, F.cross_entropy(model(x), y))


def test_growing_model_and_multi_head_model():
    torch.manual_seed(0)
    growing, recorder = IncrementalMLP(input_size=8, hidden_sizes=(16,)), TermRecorder()
    _strategy(growing, RARPlugin(), recorder).train(toy_benchmark(3, 2).train_stream)
    assert growing.classifier.out_features == 6
    assert all(set(terms) == {"rar-replay", "rar-adversarial"} for terms in recorder.terms[2])

    heads, recorder = MultiHeadMLP(input_size=8, hidden_sizes=(16,)), TermRecorder()
    _strategy(heads, RARPlugin(use_mixup=True), recorder).train(
        toy_benchmark(3, 2, task_labels=True).train_stream
    )
    # Other tasks' classes are no boundary to cross: plain (mixed) replay only.
    assert all(set(terms) == {"rar-replay"} for terms in recorder.terms[2])


def test_memory_is_class_balanced_by_default_or_the_buffer_given():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=6, input_size=8, hidden_sizes=(16,))
    plugin = RARPlugin(mem_size=30)
    _strategy(model, plugin).train(toy_benchmark(3, 2).train_stream)
    assert isinstance(plugin.storage_policy, ClassBalancedBuffer)
    assert torch.bincount(plugin.storage_policy.buffer.y).tolist() == [5] * 6
    reservoir = ReservoirSamplingBuffer(30)
    strategy = RAR(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        mem_size=30,
        storage_policy=reservoir,
        evaluator=None,
    )
    strategy.train(toy_benchmark(2, 2).train_stream)
    assert strategy.plugins[0].storage_policy is reservoir and len(reservoir) == 30
    with pytest.raises(ParameterError, match="mem_size"):
        RARPlugin(mem_size=20, storage_policy=ReservoirSamplingBuffer(30))


def test_the_old_names_buffer_and_layer_name_still_work_with_a_warning():
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    reservoir = ReservoirSamplingBuffer(30)
    with pytest.warns(DeprecationWarning, match="buffer is now called storage_policy"):
        plugin = RARPlugin(mem_size=30, buffer=reservoir)
    assert plugin.storage_policy is reservoir
    with pytest.warns(DeprecationWarning, match="layer_name is now called name_ext_layer"):
        assert RARPlugin(layer_name="features").name_ext_layer == "features"
    with pytest.warns(DeprecationWarning, match="storage_policy"):
        strategy = RAR(
            model=model,
            optimizer=torch.optim.SGD(model.parameters()),
            mem_size=30,
            buffer=reservoir,
        )
    assert strategy.plugins[0].storage_policy is reservoir


def test_composes_with_replay_scheduler_and_early_stopping():
    benchmark = toy_benchmark(3, 2)
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=6, input_size=8, hidden_sizes=(16,))
    recorder, stopper = TermRecorder(), EarlyStoppingPlugin(patience=1, val_stream_name="test")
    strategy = _strategy(
        model,
        RARPlugin(mem_size=30),
        ReplayPlugin(mem_size=30),
        LRSchedulerPlugin("exponential", gamma=0.8),
        stopper,
        recorder,
        train_mb_size=10,
        train_epochs=30,
        eval_every=1,
        evaluator="default",
    )
    for index, experience in enumerate(benchmark.train_stream):
        result = strategy.train(experience, [benchmark.test_stream[: index + 1]])
        assert result.epochs < 30 and stopper.stopped_at is not None
    assert all(set(terms) == {"rar-replay", "rar-adversarial"} for terms in recorder.terms[2])


def test_unknown_layer_name_fails_when_training_starts():
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    strategy = _strategy(model, RARPlugin(name_ext_layer="featurs"))
    with pytest.raises(UnknownNameError, match="'features'"):
        strategy.train(toy_benchmark(2, 2).train_stream[0])


def test_resumes_from_a_checkpoint_with_its_memory():
    restored = assert_plugin_resumes(lambda: RARPlugin(mem_size=30), optimizer="sgd", lr=0.05)
    assert torch.bincount(restored.storage_policy.buffer.y).tolist() == [5] * 6
    with pytest.raises(CheckpointError, match="buffer"):
        RARPlugin().load_state_dict({})


def test_bad_parameters_are_named():
    kit.assert_refuses(
        RARPlugin,
        {"batch_size_mem": 0},
        {"mem_size": -1},
        {"iter_fgsm": 0},
        {"epsilon_fgsm": 0.0},
        {"decay_factor_fgsm": -0.5},
        {"beta_coef": -1.0},
        {"mixup_alpha": 0},
        {"use_mixup": "yes"},
        {"name_ext_layer": ""},
        {"replay_weighting": "mean"},
        {"storage_policy": TensorData(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))},
    )


def _split_digits_accuracy(strategy_class, **options) -> float:
    torch.manual_seed(0)
    benchmark = split_digits()
    model = SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(128,))
    strategy = strategy_class(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        train_epochs=5,
        **options,
    )
    for experience in benchmark.train_stream:
        strategy.train(experience)
    return strategy.eval(benchmark.test_stream).metrics["accuracy"]


def test_rar_remembers_split_digits_where_finetuning_forgets():
    naive = _split_digits_accuracy(SupervisedTemplate)
    rar = _split_digits_accuracy(RAR, mem_size=200)
    assert naive < 0.25, naive  # measured 0.20: only the last two classes survive
    assert rar > 0.8, rar  # measured 0.89 (0.86-0.91 over seeds 0-4)
