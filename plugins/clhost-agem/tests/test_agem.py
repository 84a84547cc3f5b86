"""A-GEM: the projection never leaves a gradient that raises the memory's loss and leaves
agreeing gradients alone, the memory holds the asked number of samples per experience,
its state restores the run exactly, and A-GEM beats finetuning on task-, domain- and
class-incremental digits."""

import pytest
import torch
import torch.nn.functional as F

from clhost import hookimpl
from clhost import testing as kit
from clhost.benchmarks import permuted_digits, split_digits
from clhost.data import TensorData
from clhost.models import IncrementalMLP, MultiHeadMLP, SimpleMLP
from clhost.templates import SupervisedTemplate
from clhost.testing import assert_plugin_resumes, strategy_for, toy_benchmark
from clhost_agem import AGEM, AGEMPlugin, project_away


def _flat_grad(model):
    return torch.cat(
        [
            p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel())
            for p in model.parameters()
        ]
    )


def test_projection_removes_only_the_disagreeing_component():
    generator = torch.Generator().manual_seed(0)
    disagreeing = 0
    for _ in range(200):
        gradient, reference = torch.randn(2, 50, generator=generator, dtype=torch.float64)
        projected = project_away(gradient, reference)
        dot = gradient @ reference
        if dot < 0:
            disagreeing += 1
            expected = gradient - dot / (reference @ reference) * reference
            assert torch.allclose(projected, expected)
            assert projected @ reference >= -1e-12
        else:
            assert torch.equal(projected, gradient)
    assert 50 < disagreeing < 150
    zero = torch.zeros(50, dtype=torch.float64)
    assert torch.equal(project_away(gradient, zero), gradient)


class GradientSpy:
    """Records the flat gradient when its ``clhost_after_backward`` runs."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def clhost_after_backward(self, strategy):
        self.seen.append(_flat_grad(strategy.model))


class ReferenceSpy(GradientSpy):
    """Also computes the memory's gradient itself, from the whole memory."""

    def __init__(self, agem):
        super().__init__()
        self.agem, self.references = agem, []

    @hookimpl
    def clhost_after_backward(self, strategy):
        super().clhost_after_backward(strategy)
        if not self.agem.memories:
            self.references.append(None)
            return
        memory = TensorData.concat(self.agem.memories)
        model = strategy.model
        loss = F.cross_entropy(model(memory.x), memory.y)
        grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
        self.references.append(
            torch.cat(
                [
                    g.reshape(-1) if g is not None else torch.zeros(p.numel())
                    for g, p in zip(grads, model.parameters(), strict=True)
                ]
            )
        )


def test_projected_gradient_never_disagrees_with_the_memory_on_a_growing_model():
    torch.manual_seed(0)
    bench = toy_benchmark(3, 2)
    agem = AGEMPlugin(patterns_per_experience=20, sample_size=1000)  # samples = memory
    before, after = GradientSpy(), ReferenceSpy(agem)
    model = IncrementalMLP(8, (16,))
    strategy = strategy_for(
        model, [before, agem, after], optimizer="sgd", lr=0.1, train_mb_size=10, train_epochs=2
    )
    strategy.train(bench.train_stream)
    projected = unchanged = 0
    for g, g_after, reference in zip(before.seen, after.seen, after.references, strict=True):
        if reference is None:
            assert torch.equal(g, g_after)
            continue
        scale = g.norm() * reference.norm()
        assert g_after @ reference >= -1e-5 * scale
        if g @ reference < -1e-3 * scale:
            projected += 1
            assert not torch.allclose(g, g_after)
        elif g @ reference > 1e-3 * scale:
            unchanged += 1
            assert torch.equal(g, g_after)
    assert projected > 0 and unchanged > 0


def test_memory_keeps_the_asked_samples_of_each_experience():
    torch.manual_seed(0)
    bench = toy_benchmark(3, 2, task_labels=True)
    agem = AGEMPlugin(patterns_per_experience=30, sample_size=8)
    model = MultiHeadMLP(8, (16,))
    strategy = AGEM(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        patterns_per_exp=30,
        sample_size=8,
        evaluator=None,
    )
    (agem,) = [p for p in strategy.plugins if isinstance(p, AGEMPlugin)]
    strategy.train(bench.train_stream)
    assert [len(memory) for memory in agem.memories] == [30, 30, 30]
    for index, memory in enumerate(agem.memories):
        assert isinstance(memory, TensorData)
        assert set(memory.classes) <= set(bench.train_stream[index].classes_in_this_experience)
        assert memory.task_set == [index]
    small = AGEMPlugin(patterns_per_experience=1000, sample_size=8)
    strategy_for(model, [small], optimizer="sgd", lr=0.1, train_mb_size=32).train(
        bench.train_stream[0]
    )
    assert len(small.memories[0]) == len(bench.train_stream[0].dataset)


def test_reference_sample_takes_the_same_number_from_each_past_experience():
    """Experiences weigh the same in the reference gradient whatever their memory sizes:
    sample_size // experiences from each (at least one), never a pooled draw."""
    plugin = AGEMPlugin(patterns_per_experience=50, sample_size=12)
    plugin.memories = [
        TensorData(torch.zeros(50, 2), torch.full((50,), 0)),
        TensorData(torch.zeros(5, 2), torch.full((5,), 1)),
        TensorData(torch.zeros(20, 2), torch.full((20,), 2)),
    ]
    for _ in range(5):
        _, y, _ = plugin._sample(torch.device("cpu"))
        assert torch.bincount(y).tolist() == [4, 4, 4]
    plugin.memories = plugin.memories * 5  # 15 experiences, sample_size 12: one each
    plugin._pool = None
    assert len(plugin._sample(torch.device("cpu"))[1]) == 15


def test_bad_parameters_are_named():
    kit.assert_refuses(
        AGEMPlugin,
        {"patterns_per_experience": 0},
        {"sample_size": -3},
        {"sample_size": 2.5},
    )


def test_state_round_trip_restores_the_memories_and_the_run():
    restored = assert_plugin_resumes(
        lambda: AGEMPlugin(patterns_per_experience=20, sample_size=10),
        model=lambda: IncrementalMLP(8, (16,)),
        optimizer="sgd",
        lr=0.1,
        train_epochs=2,
    )
    assert [len(memory) for memory in restored.memories] == [20, 20, 20]


def _average_accuracy(model, benchmark, *, momentum, epochs, **agem):
    torch.manual_seed(0)
    options = dict(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=momentum),
        train_epochs=epochs,
    )
    strategy = AGEM(**agem, **options) if agem else SupervisedTemplate(**options)
    for experience in benchmark.train_stream:
        strategy.train(experience)
    result = strategy.eval(benchmark.test_stream)
    assert len(result.per_experience) == len(benchmark.test_stream)
    return sum(m["accuracy"] for m in result.per_experience.values()) / len(benchmark.test_stream)


def test_beats_finetuning_on_task_incremental_split_digits():
    def accuracy(**agem):
        torch.manual_seed(0)
        model = MultiHeadMLP(64, (64, 64))
        return _average_accuracy(
            model, split_digits(task_labels=True), momentum=0.9, epochs=10, **agem
        )

    naive, agem = accuracy(), accuracy(patterns_per_exp=100, sample_size=64)
    assert agem >= naive + 0.04, (agem, naive)  # measured 0.90 vs 0.84


def test_beats_finetuning_on_domain_incremental_permuted_digits():
    def accuracy(**agem):
        torch.manual_seed(0)
        model = SimpleMLP(10, 64, (64, 64))
        return _average_accuracy(model, permuted_digits(), momentum=0.9, epochs=5, **agem)

    naive, agem = accuracy(), accuracy(patterns_per_exp=100, sample_size=64)
    assert agem >= naive + 0.1, (agem, naive)  # measured 0.50 vs 0.30


def test_beats_finetuning_on_class_incremental_split_digits():
    # Plain SGD: A-GEM checks the gradient of this step against the memory; momentum
    # adds earlier steps that were never checked against the current reference, which
    # in the class-incremental setting undoes the protection (measured 0.20 with 0.9).
    def accuracy(**agem):
        torch.manual_seed(0)
        model = IncrementalMLP(64, (64, 64))
        return _average_accuracy(model, split_digits(), momentum=0.0, epochs=5, **agem)

    naive, agem = accuracy(), accuracy(patterns_per_exp=200, sample_size=256)
    assert agem >= naive + 0.2, (agem, naive)  # measured 0.58 vs 0.20


def test_the_strategy_takes_avalanches_name_and_the_plugins_with_a_warning():
    model = IncrementalMLP(8, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert (
        AGEM(model=model, optimizer=optimizer, patterns_per_exp=7)
        .plugins[0]
        .patterns_per_experience
        == 7
    )
    with pytest.warns(
        DeprecationWarning, match="patterns_per_experience is now called patterns_per_exp"
    ):
        strategy = AGEM(model=model, optimizer=optimizer, patterns_per_experience=8)
    assert strategy.plugins[0].patterns_per_experience == 8
