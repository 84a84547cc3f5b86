"""Generative replay: the VAE fits any shape, minibatches gain labelled samples, old
classes are remembered on class-incremental Split Digits."""

import copy

import pytest
import torch

from clhost.benchmarks import split_digits
from clhost.errors import ParameterError, PluginCompositionError
from clhost.models import MultiHeadMLP, SimpleMLP
from clhost.templates import SupervisedTemplate
from clhost.testing import assert_resumes, average_accuracy, state_round_trip, toy_benchmark
from clhost_generative_replay import (
    VAE,
    GenerativeReplay,
    GenerativeReplayPlugin,
    TrainGeneratorAfterExpPlugin,
    VAETraining,
)


@pytest.mark.parametrize("shape", [(64,), (1, 28, 28), (3, 8, 8)])
def test_vae_reconstructs_and_generates_any_shape(shape):
    vae = VAE(shape, latent_dim=4, hidden_sizes=(32,))
    x = torch.rand(5, *shape)
    reconstruction, mean, log_var = vae(x)
    assert reconstruction.shape == x.shape and mean.shape == log_var.shape == (5, 4)
    assert vae.generate(7).shape == (7, *shape)
    assert vae.loss((reconstruction, mean, log_var), x) > 0


def test_unbounded_vae_uses_squared_error():
    vae = VAE((3,), latent_dim=2, hidden_sizes=(8,), bounded_inputs=False)
    x = torch.randn(4, 3) * 5  # outside [0, 1]: binary cross-entropy would fail
    assert torch.isfinite(vae.loss(vae(x), x))


def test_vae_training_lowers_its_loss():
    torch.manual_seed(0)
    experience = toy_benchmark(n_experiences=1, classes_per_experience=4).train_stream[0]
    vae = VAE((8,), latent_dim=2, hidden_sizes=(32,), bounded_inputs=False)
    strategy = VAETraining(
        model=vae, optimizer=torch.optim.Adam(vae.parameters(), lr=3e-3), train_epochs=1
    )
    x = experience.dataset.x
    vae.eval()
    before = vae.loss(vae(x), x).item()
    strategy.train(experience)
    strategy.train_epochs = 20
    strategy.train(experience)
    vae.eval()
    assert vae.loss(vae(x), x).item() < 0.7 * before


class BatchSizes:
    """Records minibatch sizes and labels after every other plugin changed them."""

    def __init__(self):
        from clhost import hookimpl

        self.sizes, self.batches = [], []

        @hookimpl
        def clhost_before_forward(strategy):
            self.sizes.append(len(strategy.mb_x))
            self.batches.append((strategy.mb_x.clone(), strategy.mb_y.clone()))

        self.clhost_before_forward = clhost_before_forward


def _solver_with_replay(**replay_options):
    torch.manual_seed(0)
    benchmark = toy_benchmark(n_experiences=3, classes_per_experience=2)
    generator = VAE((8,), latent_dim=2, hidden_sizes=(16,), bounded_inputs=False)
    generator_strategy = VAETraining(
        model=generator, optimizer=torch.optim.Adam(generator.parameters()), train_epochs=2
    )
    replay = GenerativeReplayPlugin(generator_strategy, **replay_options)
    sizes = BatchSizes()
    model = SimpleMLP(num_classes=6, input_size=8, hidden_sizes=(16,))
    solver = SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        train_mb_size=20,
        plugins=[replay, TrainGeneratorAfterExpPlugin(generator_strategy), sizes],
    )
    return benchmark, solver, replay, sizes, generator


def test_no_replay_in_the_first_experience_then_labelled_samples():
    benchmark, solver, replay, sizes, _ = _solver_with_replay()
    solver.train(benchmark.train_stream[0])
    assert set(sizes.sizes) == {20}
    solver_after_first = copy.deepcopy(solver.model)
    sizes.sizes.clear()
    solver.train(benchmark.train_stream[1])
    assert set(sizes.sizes) == {40}  # each minibatch doubled by generated samples
    # Generated samples carry the predictions of the solver frozen after experience 0.
    for x, y in sizes.batches[-5:]:
        assert torch.equal(y[20:], solver_after_first(x[20:]).argmax(dim=1))
    assert replay.experiences_seen == 2


def test_increasing_replay_size_grows_with_past_experiences():
    benchmark, solver, _, sizes, _ = _solver_with_replay(increasing_replay_size=True)
    solver.train(benchmark.train_stream[:2])
    sizes.sizes.clear()
    solver.train(benchmark.train_stream[2])
    assert set(sizes.sizes) == {20 + 2 * 20}


def test_generator_trains_after_each_experience_and_state_round_trips():
    benchmark, solver, _, _, generator = _solver_with_replay(replay_size=5)
    before = [p.detach().clone() for p in generator.parameters()]
    solver.train(benchmark.train_stream[0])
    assert any(not torch.equal(a, b) for a, b in zip(before, generator.parameters(), strict=True))
    trainer = next(p for p in solver.plugins if isinstance(p, TrainGeneratorAfterExpPlugin))

    def fresh():
        _, _, _, _, other_generator = _solver_with_replay()
        optimizer = torch.optim.Adam(other_generator.parameters())
        return TrainGeneratorAfterExpPlugin(VAETraining(model=other_generator, optimizer=optimizer))

    other = state_round_trip(trainer, fresh())
    for a, b in zip(
        generator.parameters(), other.generator_strategy.model.parameters(), strict=True
    ):
        assert torch.equal(a, b)
    assert other.generator_strategy.plugins[0].experiences_seen == 1
    state = trainer.state_dict()  # as saved before state keys were declared
    state["replay"] = {"generative-replay-plugin": state["replay"]["generative-replay"]}
    older = fresh()
    older.load_state_dict(state)
    assert older.generator_strategy.plugins[0].experiences_seen == 1


def test_a_resumed_run_ends_as_one_never_stopped():
    benchmark = toy_benchmark(n_experiences=3, classes_per_experience=2, n_per_class=20)

    def build():
        model = SimpleMLP(num_classes=6, input_size=8, hidden_sizes=(16,))
        return GenerativeReplay(
            model=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
            latent_dim=2,
            generator_hidden_sizes=(16,),
            generator_epochs=1,
            train_mb_size=20,
            evaluator=None,
        )

    resumed = assert_resumes(build, benchmark.train_stream, split=2)
    assert resumed.replay.experiences_seen == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"replay_size": 0}, {"increasing_replay_size": "yes"}, {"generator_epochs": 0},
     {"generator_lr": -1.0}, {"latent_dim": 1.5}],
)  # fmt: skip
def test_bad_parameters_are_named(kwargs):
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(8,))
    with pytest.raises(ParameterError, match=next(iter(kwargs))):
        GenerativeReplay(model=model, optimizer=torch.optim.SGD(model.parameters()), **kwargs)


def test_the_generator_replays_in_the_solvers_ratio():
    """Shin et al. mix current and replayed data in one ratio for solver and generator;
    the generator used to replay len(minibatch) x past experiences whatever was asked."""
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    generator = VAE((8,), latent_dim=2, hidden_sizes=(16,), bounded_inputs=False)
    generator_sizes, solver_sizes = [], BatchSizes()
    generator.register_forward_pre_hook(lambda _, inputs: generator_sizes.append(len(inputs[0])))
    strategy = GenerativeReplay(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        generator=generator,
        generator_epochs=1,
        train_mb_size=20,
        replay_size=5,
        increasing_replay_size=False,
        plugins=[solver_sizes],
    )
    strategy.train(benchmark.train_stream[0])
    solver_sizes.sizes.clear()
    generator_sizes.clear()
    strategy.train(benchmark.train_stream[1])
    assert set(solver_sizes.sizes) == {25} and set(generator_sizes) == {25}


def test_multi_task_models_are_rejected():
    model = MultiHeadMLP(input_size=8, hidden_sizes=(8,))
    strategy = GenerativeReplay(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(PluginCompositionError, match="multi-task"):
        strategy.train(toy_benchmark(task_labels=True).train_stream[0])


def test_generative_replay_beats_naive_on_split_digits():
    setup = {
        "benchmark": split_digits(),
        "model": lambda: SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(128,)),
        "train_epochs": 10,
    }
    naive = average_accuracy(**setup)
    replay = average_accuracy(GenerativeReplay, latent_dim=4, **setup)
    assert naive < 0.25
    assert replay > naive + 0.4
