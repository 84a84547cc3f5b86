"""La-MAML: the learning rates take the meta-gradient's step (sign and size, by hand),
the torch.func look-ahead equals an explicit unrolled computation (first and second
order), both seed entries are one algorithm, learning rates follow a growing model, and
it resumes exactly and beats finetuning in the batch and online templates."""

import dataclasses
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from clhost import registry
from clhost.benchmarks import split_digits, split_online
from clhost.errors import ParameterError, PluginCompositionError
from clhost.models import IncrementalMLP, SimpleMLP
from clhost.templates import (
    OnlineMetaLearningTemplate,
    OnlineSupervisedTemplate,
)
from clhost.testing import (
    assert_forgets_less,
    assert_refuses,
    assert_resumes,
    average_accuracy,
    run_readme_examples,
    seeded_strategy,
    state_round_trip,
    strategy_for,
    toy_benchmark,
)
from clhost_lamaml import LaMAML, LaMAMLPlugin


def _step(plugin, model, x, y):
    """One minibatch (x, y) of task 0 through ``plugin``'s inner and outer updates, in
    the strategy holding it, which is returned."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    strategy = OnlineMetaLearningTemplate(model=model, optimizer=optimizer, plugins=[plugin])
    strategy.mbatch = (x, y, torch.zeros(len(y), dtype=torch.long))
    plugin.inner_updates(strategy)
    plugin.outer_update(strategy)
    return strategy


def test_learning_rates_take_the_meta_gradient_step():
    """One inner step θ1 = θ0 − α g0 and the meta-loss at θ1 (gradient g1) give
    ∂L/∂α = −g0 ⊙ g1: α grows exactly by lr_alpha · g0 ⊙ g1, where the two agree."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3).double()
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])
    theta0 = [p.detach().clone().requires_grad_() for p in model.parameters()]
    g0 = torch.autograd.grad(F.cross_entropy(F.linear(x, *theta0), y), theta0)
    theta1 = [p - 0.1 * g for p, g in zip(theta0, g0, strict=True)]
    g1 = torch.autograd.grad(F.cross_entropy(F.linear(x, *theta1), y), theta1)
    plugin = LaMAMLPlugin(n_inner_updates=1, grad_clip_norm=1e6, lr_alpha=0.5, alpha_init=0.1)

    _step(plugin, model, x, y)

    for alpha, a, b in zip(plugin.alpha_params.values(), g0, g1, strict=True):
        expected = 0.1 + 0.5 * a * b
        assert torch.allclose(alpha, expected)
        agree = a * b > 0
        assert (alpha[agree] > 0.1).all() and (alpha[~agree & (a * b < 0)] < 0.1).all()


def test_learning_rate_steps_are_clipped_and_frozen_without_learn_lr():
    torch.manual_seed(0)
    x, y = torch.randn(6, 4) * 10, torch.tensor([0, 1, 2, 0, 1, 2])
    for learn_lr, bound in ((True, 0.5 * 0.01), (False, 0.0)):
        model = nn.Linear(4, 3)
        plugin = LaMAMLPlugin(grad_clip_norm=0.01, lr_alpha=0.5, learn_lr=learn_lr)
        _step(plugin, model, x, y)
        change = torch.cat([(a - 0.1).reshape(-1) for a in plugin.alpha_params.values()])
        assert change.norm() <= bound + 1e-6 and (change.norm() > 0) == learn_lr


class _TinyNet(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))


def _unrolled(weights, alphas, chunks, meta, second_order, clip):
    """The look-ahead written out: plain tensors, autograd, no torch.func."""

    def loss(w, x, y):
        return F.cross_entropy(F.linear(torch.tanh(F.linear(x, w[0], w[1])), w[2], w[3]), y)

    fast, losses = weights, []
    for x, y in chunks:
        grads = torch.autograd.grad(loss(fast, x, y), fast, create_graph=second_order)
        fast = [w - a * g.clamp(-clip, clip) for w, a, g in zip(fast, alphas, grads, strict=True)]
        losses.append(loss(fast, *meta))
    return torch.stack(losses).mean()


@pytest.mark.parametrize("second_order", [True, False])
def test_the_functional_lookahead_equals_the_unrolled_computation(second_order):
    torch.manual_seed(0)
    model = _TinyNet().double()
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1, 0])
    memory = (torch.randn(4, 3, dtype=torch.float64), torch.tensor([1, 0, 0, 1]))
    plugin = LaMAMLPlugin(n_inner_updates=3, second_order=second_order, grad_clip_norm=0.05)
    plugin.storage_policy.update_from_data(
        _tensor_data(*memory)
    )  # memory draws join the meta batch
    weights = [p.detach().clone().requires_grad_() for p in model.parameters()]
    alphas = [torch.full_like(w, 0.1).requires_grad_() for w in weights]

    torch.manual_seed(1)
    strategy = _step(plugin, model, x, y)

    torch.manual_seed(1)
    drawn = torch.randperm(4)[:10]
    meta = (torch.cat((x, memory[0][drawn])), torch.cat((y, memory[1][drawn])))
    chunks = [(x[i : i + 2], y[i : i + 2]) for i in range(0, 6, 2)]
    meta_loss = _unrolled(weights, alphas, chunks, meta, second_order, 0.05)
    grads = torch.autograd.grad(meta_loss, weights + alphas)
    assert torch.allclose(strategy.loss, meta_loss)
    w_grads, a_grads = grads[:4], grads[4:]
    scale = min(1.0, 0.05 / (torch.cat([g.reshape(-1) for g in w_grads]).norm() + 1e-6))
    a_scale = min(1.0, 0.05 / (torch.cat([g.reshape(-1) for g in a_grads]).norm() + 1e-6))
    for alpha, a, g in zip(plugin.alpha_params.values(), alphas, a_grads, strict=True):
        assert torch.allclose(alpha, a - 0.25 * a_scale * g)
    for param, w, g, alpha in zip(
        model.parameters(), weights, w_grads, plugin.alpha_params.values(), strict=True
    ):
        assert torch.allclose(param, w - F.relu(alpha) * scale * g)


def _tensor_data(x, y):
    from clhost.data import TensorData

    return TensorData(x, y, torch.zeros(len(y), dtype=torch.long))


def test_both_seed_entries_are_one_algorithm_and_agree():
    v1, v2 = registry.load("strategy", "lamaml"), registry.load("strategy", "lamaml-v2")
    assert v1 is v2 is LaMAML
    stream = toy_benchmark().train_stream
    states = []
    for strategy_class in (v1, v2):
        torch.manual_seed(0)
        model = SimpleMLP(4, 8, (16,))
        strategy = strategy_class(
            model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), evaluator=None
        )
        strategy.train(stream)
        states.append(strategy.plugins[0].state_dict()["alpha_params"])
    assert all(torch.equal(states[0][name], states[1][name]) for name in states[0])


def test_learning_rates_grow_with_the_classifier():
    stream = toy_benchmark(n_experiences=2, classes_per_experience=2).train_stream
    torch.manual_seed(0)
    model = IncrementalMLP(8, (16,), initial_out_features=2)
    strategy = LaMAML(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), evaluator=None
    )
    strategy.train(stream[0])
    alphas = strategy.plugins[0].alpha_params
    old = alphas["classifier.classifier.weight"].detach().clone()
    assert old.shape == (2, 16) and not torch.all(old == 0.1)
    strategy.train(stream[1])
    grown = strategy.plugins[0].alpha_params["classifier.classifier.weight"]
    assert grown.shape == (4, 16) and grown.is_leaf and grown.requires_grad
    assert not torch.equal(grown[:2], old)  # trained on, from the old values


def test_sync_update_moves_the_weights_by_the_optimizer():
    torch.manual_seed(0)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    model = nn.Linear(4, 3)
    before = model.weight.detach().clone()
    plugin = LaMAMLPlugin(sync_update=True, alpha_init=0.0)  # α = 0: only the optimizer moves
    strategy = _step(plugin, model, x, y)
    assert torch.allclose(model.weight, before - 0.1 * model.weight.grad)
    assert strategy.loss > 0


def _online(model):
    return OnlineMetaLearningTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        plugins=[LaMAMLPlugin(max_buffer_size=200)],
        train_mb_size=10,
    )


def test_beats_finetuning_on_class_incremental_digits_in_both_templates():
    benchmark = split_digits()
    common = dict(model=lambda: SimpleMLP(10, 64, (64,)), optimizer="sgd", lr=0.1, momentum=0.0)
    batch = dict(benchmark=benchmark, train_mb_size=32, train_epochs=2, **common)
    assert average_accuracy(LaMAML, **batch) > average_accuracy(**batch) + 0.15
    stream = split_online(benchmark.train_stream, 10, shuffle=True, seed=0)
    online = dict(train_mb_size=10, **common)
    online["benchmark"] = dataclasses.replace(benchmark, train_stream=stream)
    lamaml = average_accuracy(OnlineMetaLearningTemplate, plugins=[LaMAMLPlugin()], **online)
    assert lamaml > average_accuracy(OnlineSupervisedTemplate, **online) + 0.2


def test_beats_finetuning_on_domain_incremental_digits():
    assert_forgets_less(LaMAML, "permuted-digits", margin=0.1)


def test_resumes_exactly_in_both_templates():
    benchmark = toy_benchmark(n_experiences=3, classes_per_experience=2)

    growing = partial(IncrementalMLP, 8, (16,), initial_out_features=2)
    batch = partial(seeded_strategy, LaMAML, model=growing, max_buffer_size=30, train_mb_size=16)
    resumed = assert_resumes(batch, benchmark.train_stream, split=2)
    plugin = resumed.plugins[0]
    restored = state_round_trip(plugin, LaMAMLPlugin(max_buffer_size=30))
    for name, alpha in plugin.alpha_params.items():
        assert torch.equal(restored.alpha_params[name], alpha) and not torch.all(alpha == 0.1)
    assert len(restored.storage_policy) == 30
    online = split_online(benchmark.train_stream, 20, shuffle=True, seed=0)
    assert_resumes(lambda: _online(SimpleMLP(6, 8, (16,))), online, split=7)


def test_needs_a_meta_learning_template_and_checks_its_parameters():
    model = SimpleMLP(4, 8, (16,))
    with pytest.raises(PluginCompositionError, match="inner updates then an outer update"):
        strategy_for(model, [LaMAMLPlugin()])
    assert_refuses(
        LaMAMLPlugin,
        {"n_inner_updates": 0},
        {"grad_clip_norm": 0},
        {"lr_alpha": -1},
        {"sync_update": "yes"},
        {"max_buffer_size": 0},
    )
    with pytest.raises(ParameterError, match="second_order"):
        LaMAML(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), second_order=1)


def test_readme_example_runs():
    run_readme_examples(Path(__file__).parent.parent / "README.md")
