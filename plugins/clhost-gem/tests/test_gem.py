"""GEM: the dual QP solver finds the same optimum as brute force over active sets, every
memory constraint holds after the projection (and gradients that satisfy them are left
alone), the memories and the run survive a checkpoint, and GEM beats finetuning on task-,
domain- and class-incremental digits."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from clhost import hookimpl
from clhost import testing as kit
from clhost.benchmarks import permuted_digits, split_digits
from clhost.models import IncrementalMLP, MultiHeadMLP, SimpleMLP
from clhost.testing import assert_plugin_resumes, average_accuracy, strategy_for, toy_benchmark
from clhost_gem import GEM, GEMPlugin, gem_dual, nonnegative_qp, project_to_constraints


def _objective(P, c, u):
    return 0.5 * u @ P @ u + c @ u


def _brute_force(P, c):
    """The best point satisfying the KKT conditions, over every choice of active set."""
    k, best = len(c), None
    for free in itertools.chain.from_iterable(
        itertools.combinations(range(k), r) for r in range(k + 1)
    ):
        u = torch.zeros(k, dtype=torch.float64)
        if free:
            index = torch.tensor(free)
            sub = P[index][:, index]
            u[index] = torch.linalg.lstsq(sub, -c[index].unsqueeze(1)).solution.squeeze(1)
        feasible = (u >= -1e-9).all() and (P @ u + c >= -1e-9).all()
        if feasible and (best is None or _objective(P, c, u) < _objective(P, c, best) - 1e-12):
            best = u
    return best


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_qp_solver_equals_brute_force_on_positive_definite_problems(k):
    generator = torch.Generator().manual_seed(k)
    for _ in range(40):
        A = torch.randn(k, k + 2, generator=generator, dtype=torch.float64)
        P, c = A @ A.T, torch.randn(k, generator=generator, dtype=torch.float64) * 3
        u = nonnegative_qp(P, c)
        expected = _brute_force(P, c)
        assert (u >= 0).all()
        assert torch.allclose(u, expected, atol=1e-8), (u, expected)


@pytest.mark.parametrize("k, rank", [(3, 1), (4, 2), (5, 3)])
def test_qp_solver_equals_brute_force_on_singular_gram_matrices(k, rank):
    generator = torch.Generator().manual_seed(10 * k + rank)
    for _ in range(40):
        G = torch.randn(k, rank, generator=generator, dtype=torch.float64)
        g = torch.randn(rank, generator=generator, dtype=torch.float64)
        P, c = G @ G.T, G @ g  # a Gram matrix, as in GEM: several optima may exist
        u = nonnegative_qp(P, c)
        assert (u >= 0).all()
        assert (P @ u + c >= -1e-9).all()
        expected = _objective(P, c, _brute_force(P, c))
        assert torch.allclose(_objective(P, c, u), expected, atol=1e-9)


def test_dual_respects_the_margin_and_its_optimality_conditions():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        G = torch.randn(4, 6, generator=generator, dtype=torch.float64)
        g = torch.randn(6, generator=generator, dtype=torch.float64)
        P, c = G @ G.T, G @ g
        v = gem_dual(P, c, margin=0.3)
        slack = P @ v + c  # = G z for the projected gradient z
        assert (v >= 0.3 - 1e-12).all() and (slack >= -1e-9).all()
        assert (slack[v > 0.3 + 1e-9].abs() < 1e-8).all()  # complementary slackness


def test_projection_meets_every_constraint_and_is_the_closest_point():
    generator = torch.Generator().manual_seed(1)
    projected_any = False
    for _ in range(100):
        G = torch.randn(3, 20, generator=generator)
        g = torch.randn(20, generator=generator)
        z = project_to_constraints(g, G, margin=0.0)
        if (G @ g >= 0).all():
            assert torch.equal(z, g)
            continue
        projected_any = True
        assert (G @ z >= -1e-4 * G.norm(dim=1) * z.norm()).all()
        # Closest: the step z - g lies in the cone of the active constraints' rows.
        v = torch.linalg.lstsq(G.T.double(), (z - g).double().unsqueeze(1)).solution
        assert (v >= -1e-6).all()
    assert projected_any


def test_margin_is_the_smallest_weight_on_each_memory_gradient():
    g1 = torch.tensor([1.0, 0.0])
    g = torch.tensor([-1.0, 1.0])  # violates g1: g . g1 = -1
    exact = project_to_constraints(g, g1.unsqueeze(0), margin=0.0)
    assert torch.allclose(exact, torch.tensor([0.0, 1.0]))  # v* = 1
    leaning = project_to_constraints(g, g1.unsqueeze(0), margin=1.5)
    assert torch.allclose(leaning, torch.tensor([0.5, 1.0]))  # v = max(margin, v*)


class Float64Sizes(TorchDispatchMode):
    """Records the size of every float64 tensor an operation returns."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.dtype == torch.float64:
            self.sizes.append(out.numel())
        return out


def test_projection_makes_no_float64_copy_of_the_gradients():
    """Only the small dual (Gram matrix, G g) is widened to float64, never G itself."""
    generator = torch.Generator().manual_seed(0)
    G, g = torch.randn(4, 500, generator=generator), torch.randn(500, generator=generator)
    g -= 2 * G[0]  # violates the first constraint
    with Float64Sizes() as recorded:
        z = project_to_constraints(g, G, margin=0.5)
    assert (G @ z >= -1e-3).all() and z.dtype == torch.float32
    assert recorded.sizes and max(recorded.sizes) <= 4 * 4


def _gradients(gem, model):
    """The minibatch's gradient (as the parameters hold it now) and each memory's."""
    params = list(model.parameters())
    current = torch.cat([_flat(p.grad, p) for p in params])
    references = []
    for memory in gem.memories:
        loss = F.cross_entropy(model(memory.x), memory.y)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        references.append(torch.cat([_flat(g, p) for g, p in zip(grads, params, strict=True)]))
    return current, references


def _flat(grad, param):
    return grad.reshape(-1) if grad is not None else torch.zeros(param.numel())


class Constraints:
    """Recomputes each memory's gradient after the backward pass. Placed before GEM it
    counts the minibatch gradients that violated a constraint; placed after GEM
    (``projected``), it checks that the projected step satisfies every one."""

    def __init__(self, gem, *, projected):
        self.gem, self.projected, self.count = gem, projected, 0

    @hookimpl
    def clhost_after_backward(self, strategy):
        g, references = _gradients(self.gem, strategy.model)
        if not self.projected:
            self.count += any(g @ reference < 0 for reference in references)
            return
        for reference in references:
            assert g @ reference >= -1e-4 * g.norm() * reference.norm()
            self.count += 1


def test_every_memory_constraint_holds_after_the_projection_on_a_growing_model():
    torch.manual_seed(0)
    bench = toy_benchmark(3, 2)
    gem = GEMPlugin(patterns_per_experience=20, memory_strength=0.5)
    violations, check = Constraints(gem, projected=False), Constraints(gem, projected=True)
    model = IncrementalMLP(8, (16,))
    strategy = strategy_for(
        model, [violations, gem, check], optimizer="sgd", lr=0.1, train_mb_size=10, train_epochs=2
    )
    strategy.train(bench.train_stream)
    assert violations.count > 0  # the constraints did bind
    assert check.count > 0  # and were checked after the projection


def test_memory_keeps_the_asked_samples_of_each_experience_and_resumes():
    restored = assert_plugin_resumes(
        lambda: GEMPlugin(patterns_per_experience=15),
        model=lambda: MultiHeadMLP(8, (16,)),
        task_labels=True,
        optimizer="sgd",
        lr=0.1,
        train_epochs=2,
    )
    assert [len(memory) for memory in restored.memories] == [15, 15, 15]
    assert [memory.task_set for memory in restored.memories] == [[0], [1], [2]]


def test_a_cycling_float32_dual_is_solved_again_in_float64(monkeypatch):
    """A nearly singular float32 Gram matrix (many nearly dependent constraints) can make
    the exact active-set solver cycle: the dual is then solved as GEM's reference code
    does, from float64 products with a ridge of 1e-3 on the diagonal, not raised."""
    from clhost_gem import qp

    torch.manual_seed(0)
    constraints, gradient = torch.randn(6, 40), torch.randn(40)
    gradient = gradient - 3 * constraints[0]  # violates at least one constraint
    exact = project_to_constraints(gradient, constraints)
    solve, calls = qp.gem_dual, []

    def cycling_once(gram, linear, margin=0.0):
        calls.append(gram.clone())
        if len(calls) == 1:
            raise qp.QPNotConverged("cycled")
        return solve(gram, linear, margin)

    monkeypatch.setattr(qp, "gem_dual", cycling_once)
    projected = project_to_constraints(gradient, constraints)
    wide = constraints.double()
    ridged = wide @ wide.T + 1e-3 * torch.eye(6, dtype=torch.float64)
    assert len(calls) == 2 and torch.equal(calls[1], ridged)
    assert torch.allclose(projected, exact, atol=1e-3)  # the ridge moves it very little


def test_bad_parameters_are_named():
    kit.assert_refuses(
        GEMPlugin,
        {"patterns_per_experience": 0},
        {"memory_strength": -0.5},
        {"memory_strength": float("nan")},
    )


def test_beats_finetuning_on_task_incremental_split_digits():
    options = dict(
        benchmark=split_digits(task_labels=True),
        model=lambda: MultiHeadMLP(64, (64, 64)),
        train_epochs=10,
    )
    naive = average_accuracy(**options)
    gem = average_accuracy(GEM, **options, patterns_per_exp=100)
    assert gem >= naive + 0.1, (gem, naive)  # measured 0.98 vs 0.84


def test_beats_finetuning_on_domain_incremental_permuted_digits():
    options = dict(benchmark=permuted_digits(), model=lambda: SimpleMLP(10, 64, (64, 64)))
    naive = average_accuracy(**options, train_epochs=5)
    gem = average_accuracy(GEM, **options, train_epochs=5, patterns_per_exp=100)
    assert gem >= naive + 0.3, (gem, naive)  # measured 0.86 vs 0.30


def test_beats_finetuning_on_class_incremental_split_digits():
    options = dict(benchmark=split_digits(), model=lambda: IncrementalMLP(64, (64, 64)))
    naive = average_accuracy(**options, momentum=0.0, train_epochs=5)
    gem = average_accuracy(GEM, **options, momentum=0.0, train_epochs=5, patterns_per_exp=100)
    assert gem >= naive + 0.4, (gem, naive)  # measured 0.87 vs 0.20
