"""MER: its steps are the paper's Reptile steps (hand-written on a linear model, and the
per-sample sequence to first order), its reservoir takes each sample once, it runs in
the batch and online meta-learning templates, resumes exactly and beats finetuning on
class- and domain-incremental digits."""

import dataclasses
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from clhost.benchmarks import permuted_digits, split_digits, split_online
from clhost.errors import ParameterError, PluginCompositionError
from clhost.models import SimpleMLP
from clhost.templates import (
    OnlineMetaLearningTemplate,
    OnlineSupervisedTemplate,
)
from clhost.testing import (
    assert_refuses,
    assert_resumes,
    average_accuracy,
    run_readme_examples,
    seeded_strategy,
    state_round_trip,
    strategy_for,
    toy_benchmark,
)
from clhost_mer import MER, MERPlugin

LR = 0.05


def _holding(model, x, y):
    """A MER strategy on ``model`` holding the minibatch (x, y) (task 0)."""
    strategy = MER(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=LR))
    strategy.mbatch = (x, y, torch.zeros(len(y), dtype=torch.long))
    return strategy


def _summed_gradient(weight, bias, x, y):
    """The gradient of the summed cross-entropy of a linear softmax model, by hand."""
    error = torch.softmax(x @ weight.T + bias, dim=1) - F.one_hot(y, weight.shape[0])
    return error.T @ x, error.sum(0)


@pytest.mark.parametrize(
    ("options", "size"), [({}, 1), ({"samples_per_step": None}, 4), ({"samples_per_step": 3}, 3)]
)
def test_inner_and_outer_updates_are_reptile_steps_by_hand(options, size):
    """By default the paper's per-sample steps; None: one step per group (minibatch,
    memory draw); 3: steps of three samples. The loss left for the evaluator is the
    minibatch's before its update."""
    torch.manual_seed(0)
    model = nn.Linear(3, 2).double()
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0])
    plugin = MERPlugin(
        mem_size=6, batch_size_mem=2, n_inner_steps=3, beta=0.3, gamma=0.6, **options
    )
    memory_x, memory_y = torch.randn(6, 3, dtype=torch.float64), torch.tensor([1, 0] * 3)
    plugin.storage_policy.update_from_data(_data(memory_x, memory_y))
    strategy = _holding(model, x, y)
    weight, bias = model.weight.detach().clone(), model.bias.detach().clone()
    slow = (weight, bias)

    torch.manual_seed(1)
    plugin.inner_updates(strategy)
    plugin.outer_update(strategy)
    plugin.clhost_after_outer_update(strategy)
    assert torch.allclose(strategy.loss, F.cross_entropy(x @ weight.T + bias, y))

    torch.manual_seed(1)
    draws = torch.rand(3, 6).topk(2, dim=1).indices  # distinct samples for each batch
    for drawn in draws:
        start = (weight, bias)
        for gx, gy in ((x, y), (memory_x[drawn], memory_y[drawn])):
            for i in range(0, len(gy), size):
                d_weight, d_bias = _summed_gradient(
                    weight, bias, gx[i : i + size], gy[i : i + size]
                )
                weight, bias = weight - LR * d_weight, bias - LR * d_bias
        weight = start[0] + 0.3 * (weight - start[0])
        bias = start[1] + 0.3 * (bias - start[1])
    weight, bias = slow[0] + 0.6 * (weight - slow[0]), slow[1] + 0.6 * (bias - slow[1])
    assert torch.allclose(model.weight, weight) and torch.allclose(model.bias, bias)
    assert len(plugin.storage_policy) == 6  # full: the minibatch competed for its places


def _data(x, y):
    from clhost.data import TensorData

    return TensorData(x, y, torch.zeros(len(y), dtype=torch.long))


@pytest.mark.parametrize("lr", [1e-2, 1e-3])
def test_a_group_step_is_the_papers_per_sample_steps_to_first_order(lr):
    """Stepping on each sample in turn (the paper) and on their summed loss at once
    differ by O(lr²) (shrinking lr ten times shrinks the gap about a hundred times): the
    order of MER's gradient-alignment term, which the grouped variant therefore drops."""
    torch.manual_seed(0)
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 2, (8,))
    weight, bias = torch.randn(2, 3, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    d_weight, d_bias = _summed_gradient(weight, bias, x, y)
    grouped = weight - lr * d_weight
    for i in range(8):
        d_weight, d_bias = _summed_gradient(weight, bias, x[i : i + 1], y[i : i + 1])
        weight, bias = weight - lr * d_weight, bias - lr * d_bias
    gap = (grouped - weight).abs().max().item()
    assert 0 < gap < 5 * lr**2


def test_the_memory_takes_each_sample_once_and_fills():
    stream = toy_benchmark(n_experiences=2, classes_per_experience=2).train_stream
    torch.manual_seed(0)
    model = SimpleMLP(4, 8, (16,))
    strategy = MER(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        mem_size=150,
        train_epochs=3,
        train_mb_size=16,
        evaluator=None,
    )
    strategy.train(stream[0])
    memory = strategy.plugins[0].storage_policy.buffer
    assert len(memory) == 100 and len(set(memory.x[:, 0].tolist())) == 100
    strategy.train(stream[1])
    assert len(strategy.plugins[0].storage_policy) == 150
    assert set(strategy.plugins[0].storage_policy.buffer.y.tolist()) == {0, 1, 2, 3}


def _online(model, **options):
    return OnlineMetaLearningTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        plugins=[MERPlugin(**options)],
        train_mb_size=10,
    )


def _digits(scenario):
    """An effect scenario's benchmark, its finetuning template and training options."""
    if scenario != "online class-il":
        # two permutations keep the paper's per-sample steps within seconds
        benchmark = split_digits() if scenario == "class-il" else permuted_digits(2)
        return benchmark, None, {"train_mb_size": 32, "train_epochs": 1}
    benchmark = split_digits()
    stream = split_online(benchmark.train_stream, 10, shuffle=True, seed=0)
    online = dataclasses.replace(benchmark, train_stream=stream)
    return online, OnlineSupervisedTemplate, {"train_mb_size": 10}


@pytest.mark.parametrize(
    ("scenario", "margin"), [("class-il", 0.15), ("domain-il", 0.12), ("online class-il", 0.2)]
)
def test_beats_finetuning_on_digits(scenario, margin):
    """The default per-sample steps in the batch template; online, the grouped variant."""
    benchmark, finetuning, options = _digits(scenario)
    options.update(benchmark=benchmark, model=lambda: SimpleMLP(10, 64, (64,)), optimizer="sgd")
    options.update(lr=0.1, momentum=0.0)
    naive = average_accuracy(finetuning, **options)
    if finetuning is None:
        mer = average_accuracy(MER, **options)
    else:
        plugins = [MERPlugin(samples_per_step=None)]
        mer = average_accuracy(OnlineMetaLearningTemplate, plugins=plugins, **options)
    assert mer > naive + margin, (naive, mer)


def test_resumes_exactly_in_both_templates():
    benchmark = toy_benchmark(n_experiences=3, classes_per_experience=2)

    model = partial(SimpleMLP, 6, 8, (16,))
    options = {"mem_size": 30, "n_inner_steps": 2}  # fewer steps per sample: a faster test
    batch = partial(seeded_strategy, MER, model=model, train_mb_size=16, **options)
    resumed = assert_resumes(batch, benchmark.train_stream, split=2)
    restored = state_round_trip(resumed.plugins[0], MERPlugin(**options))
    assert torch.equal(restored.storage_policy.keys, resumed.plugins[0].storage_policy.keys)
    online = split_online(benchmark.train_stream, 20, shuffle=True, seed=0)
    assert_resumes(lambda: _online(SimpleMLP(6, 8, (16,)), **options), online, split=7)


def test_needs_a_meta_learning_template_and_checks_its_parameters():
    model = SimpleMLP(4, 8, (16,))
    with pytest.raises(PluginCompositionError, match="inner updates then an outer update"):
        strategy_for(model, [MERPlugin()])
    assert_refuses(
        MERPlugin,
        {"mem_size": 0},
        {"batch_size_mem": 1.5},
        {"beta": 0},
        {"gamma": 1.5},
        {"samples_per_step": 0},
    )
    with pytest.raises(ParameterError, match="n_inner_steps"):
        MER(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), n_inner_steps=0)


def test_readme_example_runs():
    run_readme_examples(Path(__file__).parent.parent / "README.md")
