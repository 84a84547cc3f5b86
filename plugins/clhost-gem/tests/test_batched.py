"""GEM's memory gradients from one joint pass equal one pass per memory (the exact
per-memory gradients) on MLPs and multi-head models, with equal and unequal memory
sizes; models whose samples interact (batch normalisation) take one pass per memory."""

import pytest
import torch
from torch import nn

from clhost import hookimpl
from clhost.gradients import gradient_of, loss_on_batch, trainable_parameters
from clhost.models import MultiHeadMLP, SimpleMLP
from clhost.templates import SupervisedTemplate
from clhost.testing import toy_benchmark
from clhost_gem import GEMPlugin
from clhost_gem.batched import memory_gradients


def _strategy(model):
    strategy = SupervisedTemplate(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), evaluator=None
    )
    strategy.is_training = True
    model.train()
    return strategy


def _batch(n, task=0, classes=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=generator)
    y = torch.randint(0, classes, (n,), generator=generator)
    return x, y, torch.full((n,), task, dtype=torch.long)


class Forwards:
    """Counts the model's forward passes."""

    def __init__(self, model):
        self.count = 0
        model.register_forward_hook(self._seen)

    def _seen(self, *_):
        self.count += 1


def _one_pass_each(strategy, batches):
    params = trainable_parameters(strategy.model)
    return torch.stack([gradient_of(loss_on_batch(strategy, b), params) for b in batches])


def _check(strategy, batches, passes):
    expected = _one_pass_each(strategy, batches)
    forwards = Forwards(strategy.model)
    rows = memory_gradients(strategy, batches, trainable_parameters(strategy.model))
    assert forwards.count == passes
    assert rows.shape == expected.shape
    assert torch.allclose(rows, expected, rtol=1e-4, atol=1e-6)
    assert strategy.mbatch == () and strategy.mb_output is None  # left as they were


@pytest.mark.parametrize("sizes", [[20, 20, 20], [20, 7, 1, 13]])
def test_one_pass_gives_every_memorys_own_gradient_on_an_mlp(sizes):
    torch.manual_seed(0)
    strategy = _strategy(SimpleMLP(4, 8, (16, 12)))
    batches = [_batch(n, seed=k) for k, n in enumerate(sizes)]
    _check(strategy, batches, passes=1)


def test_frozen_layers_are_left_out():
    torch.manual_seed(0)
    model = SimpleMLP(4, 8, (16, 12))
    model.features[1].requires_grad_(False)
    strategy = _strategy(model)
    _check(strategy, [_batch(10, seed=k) for k in range(3)], passes=1)


def test_multi_head_models_share_a_pass_per_task_label():
    torch.manual_seed(0)
    model = MultiHeadMLP(8, (16,), initial_out_features=4)
    for task in range(3):
        model.classifier.heads[str(task)] = nn.Linear(16, 4)
    strategy = _strategy(model)
    batches = [_batch(10, task=t, seed=k) for k, t in enumerate([0, 1, 1, 2, 0])]
    _check(strategy, batches, passes=3)
    mixed = _batch(6, seed=9)
    mixed[2][:3] = 2  # a memory holding two tasks is routed head by head: a pass of its own
    _check(strategy, [*batches, mixed], passes=3 + 1)


def test_batch_normalisation_in_training_mode_takes_one_pass_per_memory():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))
    strategy = _strategy(model)
    batches = [_batch(12, seed=k) for k in range(3)]
    _check(strategy, batches, passes=3)


def test_parameters_outside_linear_layers_take_one_pass_per_memory():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 4))
    strategy = _strategy(model)
    _check(strategy, [_batch(12, seed=k) for k in range(3)], passes=3)


def test_gem_computes_its_memories_gradients_in_one_forward_pass():
    """Before, GEM ran one forward and one backward pass per stored memory at every
    iteration: with 3 memories, 4 forward passes per iteration (minibatch included)."""
    torch.manual_seed(0)
    bench = toy_benchmark(4, 2)
    model = SimpleMLP(8, 8, (16,))
    forwards = Forwards(model)

    class PassesPerIteration:
        def __init__(self):
            self.seen = []

        @hookimpl
        def clhost_before_training_iteration(self, strategy):
            self.start = forwards.count

        @hookimpl
        def clhost_after_training_iteration(self, strategy):
            self.seen.append(forwards.count - self.start)

    passes = PassesPerIteration()
    strategy = SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        plugins=[GEMPlugin(patterns_per_experience=10), passes],
        train_mb_size=10,
        evaluator=None,
    )
    for experience in bench.train_stream:
        strategy.train(experience)
    assert set(passes.seen) == {1, 2}  # the minibatch, plus one pass once memories exist
