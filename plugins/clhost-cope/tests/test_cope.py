"""CoPE: the PPP loss by hand, prototypes that move to the batch mean with momentum alpha,
class-balanced replay, nearest-prototype prediction, a checkpointable state, and online
learning on Split Digits that beats online naive."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import clhost
from clhost import testing as kit
from clhost.data import Experience, TensorData
from clhost.errors import CheckpointError, ParameterError, PluginCompositionError
from clhost.models import SimpleMLP
from clhost_cope import ClassPrototypes, CoPE, CoPEPlugin, PPPLoss


def _p(similarity: float, rival: float) -> float:
    """exp(s) / (exp(s) + exp(r)): a proxy's probability against one rival (T=1)."""
    return math.exp(similarity) / (math.exp(similarity) + math.exp(rival))


# -- PPP loss ---------------------------------------------------------------------------

PROTOTYPES = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
BATCH = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])  # a, b of class 0; c of class 1
LABELS = torch.tensor([0, 0, 1])
BOTH = torch.tensor([True, True])


def test_ppp_loss_by_hand():
    # Attractors: a through p0 (1) and b (.6) against p1 (0); b through p0 and a (.6 each)
    # against p1 (.8); c through p1 (1) against p0 (0).
    attract = [
        math.log((_p(1.0, 0.0) + _p(0.6, 0.0)) / 2),
        math.log(_p(0.6, 0.8)),
        math.log(_p(1.0, 0.0)),
    ]
    # Repellors: c from class 0 through a (0) and through b (.8), with p0 (0), rival p1 (1);
    # a from class 1 through c (0) and p1 (0), rival p0 (1); b from class 1 through c (.8)
    # and p1 (.8), rival p0 (.6).
    repel = [
        math.log(1 - (_p(0.0, 1.0) + _p(0.0, 1.0)) / 2),
        math.log(1 - (_p(0.8, 1.0) + _p(0.0, 1.0)) / 2),
        math.log(1 - (_p(0.0, 1.0) + _p(0.0, 1.0)) / 2),
        math.log(1 - (_p(0.8, 0.6) + _p(0.8, 0.6)) / 2),
    ]
    expected = -(sum(attract) + sum(repel)) / 3
    loss = PPPLoss(T=1.0)(BATCH, LABELS, PROTOTYPES, BOTH)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_temperature_divides_every_similarity():
    # Scaling embeddings and prototypes by sqrt(2) doubles every z.p and z.z': as T = 1/2.
    root = math.sqrt(2)
    scaled = PPPLoss(T=1.0)(BATCH * root, LABELS, PROTOTYPES * root, BOTH)
    assert PPPLoss(T=0.5)(BATCH, LABELS, PROTOTYPES, BOTH).item() == pytest.approx(
        scaled.item(), rel=1e-6
    )


def test_classes_without_a_prototype_take_no_part():
    extra = torch.cat((PROTOTYPES, torch.tensor([[0.6, 0.8]])))
    with_unknown = PPPLoss(T=0.5)(BATCH, LABELS, extra, torch.tensor([True, True, False]))
    assert with_unknown.item() == pytest.approx(
        PPPLoss(T=0.5)(BATCH, LABELS, PROTOTYPES, BOTH).item(), rel=1e-6
    )
    competing = PPPLoss(T=0.5)(BATCH, LABELS, extra, torch.tensor([True, True, True]))
    assert competing.item() > with_unknown.item()  # a rival near b raises the loss


def test_a_single_class_gives_zero_loss_and_finite_gradients():
    z = F.normalize(torch.randn(4, 2), dim=1).requires_grad_(True)
    loss = PPPLoss()(z, torch.zeros(4, dtype=torch.long), PROTOTYPES, torch.tensor([True, False]))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(z.grad).all()


def test_descending_the_loss_moves_samples_to_their_prototypes():
    torch.manual_seed(0)
    raw = torch.randn(12, 3, requires_grad=True)
    labels = torch.arange(3).repeat(4)
    prototypes = torch.eye(3)
    loss_fn = PPPLoss(T=0.1)

    def cosine_to_own():
        z = F.normalize(raw.detach(), dim=1)
        return (z * prototypes[labels]).sum(1).mean().item()

    before = cosine_to_own()
    optimizer = torch.optim.SGD([raw], lr=0.5)
    for _ in range(30):
        optimizer.zero_grad()
        loss_fn(
            F.normalize(raw, dim=1), labels, prototypes, torch.ones(3, dtype=torch.bool)
        ).backward()
        optimizer.step()
    assert cosine_to_own() > before + 0.4


# -- prototypes -------------------------------------------------------------------------


def test_new_classes_get_random_unit_prototypes_once():
    torch.manual_seed(0)
    prototypes = ClassPrototypes(n_classes=4, p_size=3, alpha=0.9)
    prototypes.add_classes(torch.tensor([2, 0, 2]))
    assert prototypes.known.tolist() == [True, False, True, False]
    first = prototypes.vectors.clone()
    assert torch.allclose(first[[0, 2]].norm(dim=1), torch.ones(2))
    assert (first[[0, 2]] >= 0).all() and (first[[1, 3]] == 0).all()
    prototypes.add_classes(torch.tensor([0, 1]))
    assert torch.equal(prototypes.vectors[[0, 2]], first[[0, 2]])  # known ones are kept
    assert prototypes.known.tolist() == [True, True, True, False]


def test_prototypes_move_to_the_batch_mean_with_momentum_alpha():
    prototypes = ClassPrototypes(n_classes=3, p_size=2, alpha=0.75)
    prototypes.vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    prototypes.known = torch.tensor([True, True, False])
    embeddings = torch.tensor([[0.0, 1.0], [0.6, 0.8], [1.0, 0.0]])
    prototypes.accumulate(embeddings, torch.tensor([0, 0, 1]))
    prototypes.update()
    # class 0: 0.75 * (1, 0) + 0.25 * (0.3, 0.9) = (0.825, 0.225), then normalised
    expected_0 = torch.tensor([0.825, 0.225]) / math.hypot(0.825, 0.225)
    expected_1 = torch.tensor([0.25, 0.75]) / math.hypot(0.25, 0.75)
    assert torch.allclose(prototypes.vectors[0], expected_0, atol=1e-6)
    assert torch.allclose(prototypes.vectors[1], expected_1, atol=1e-6)
    assert torch.equal(prototypes.vectors[2], torch.zeros(2))  # not in the batch: unchanged
    prototypes.update()  # nothing accumulated since: nothing moves
    assert torch.allclose(prototypes.vectors[0], expected_0, atol=1e-6)


# -- plugin -----------------------------------------------------------------------------


class Spy(kit.MinibatchRecorder):
    """Placed after CoPEPlugin: minibatches, embeddings, losses, evaluation scores, and
    the prototypes after each forward pass."""

    def __init__(self, plugin=None):
        super().__init__()
        self.plugin, self.prototypes = plugin, []

    @clhost.hookimpl
    def clhost_after_forward(self, strategy):
        super().clhost_after_forward(strategy)
        if self.plugin is not None:
            self.prototypes.append(self.plugin.prototypes.vectors.clone())


def _online(plugin, *extra, model=None, lr=0.02, **kwargs):
    torch.manual_seed(0)
    model = model or SimpleMLP(num_classes=plugin.p_size, input_size=8, hidden_sizes=(32,))
    options = {"evaluator": "default", "criterion": plugin.criterion, **kwargs}
    return kit.online_strategy_for(model, [plugin, *extra], lr=lr, **options)


def test_memory_is_class_balanced_and_replays_one_sample_per_incoming_one():
    plugin = CoPEPlugin(mem_size=30, n_classes=4, p_size=16)
    spy = Spy()
    _online(plugin, spy).train(kit.online_stream())  # 4 classes of 50 samples
    counts = torch.bincount(plugin.memory.buffer.y, minlength=4)
    assert counts.sum() == 30 and counts.max() - counts.min() <= 1
    assert [len(batch[1]) for batch in spy.batches[:3]] == [10, 20, 20]
    twice = CoPEPlugin(mem_size=200, n_classes=4, p_size=16)
    _online(twice, train_passes=3).train(kit.online_stream()[:5])
    assert len(twice.memory) == 50  # each incoming minibatch once


def test_memory_takes_each_sample_once_over_several_epochs():
    torch.manual_seed(0)
    plugin = CoPEPlugin(mem_size=40, n_classes=4, p_size=16)
    strategy = kit.strategy_for(
        SimpleMLP(16, 8, (32,)),
        [plugin],
        criterion=plugin.criterion,
        train_mb_size=10,
        train_epochs=3,
    )
    strategy.train(kit.toy_benchmark(1).train_stream[0])  # 2 classes of 50 samples
    held = plugin.memory.buffer.x
    assert len(held) == 40 and len(torch.unique(held, dim=0)) == 40


def test_training_loss_is_ppp_on_normalised_embeddings_and_prototypes_follow():
    plugin = CoPEPlugin(mem_size=40, n_classes=4, p_size=16, alpha=0.9, T=0.2)
    spy = Spy(plugin)
    _online(plugin, spy).train(kit.online_stream()[:12])  # the last minibatch brings classes 2, 3
    embeddings, (_, labels, _) = spy.outputs[-1], spy.batches[-1]
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(len(labels)))
    known = torch.zeros(4, dtype=torch.bool)
    known[labels.unique()] = True
    known[:2] = True
    expected = PPPLoss(T=0.2)(embeddings, labels, spy.prototypes[-1], known)
    assert spy.losses[-1].item() == pytest.approx(expected.item(), rel=1e-5)
    # After the step, every class of the batch moved with momentum 0.9 to its batch mean.
    for label in labels.unique().tolist():
        mean = embeddings[labels == label].mean(0)
        moved = F.normalize(0.9 * spy.prototypes[-1][label] + 0.1 * mean, dim=0)
        assert torch.allclose(plugin.prototypes.vectors[label], moved, atol=1e-5)


def test_prototypes_update_every_max_it_cnt_iterations_with_the_summed_batches():
    plugin = CoPEPlugin(mem_size=40, n_classes=4, p_size=16, alpha=0.5, max_it_cnt=2)
    spy = Spy(plugin)
    _online(plugin, spy).train(kit.online_stream()[:3])
    # Iteration 1 initialises classes 0 and 1 but does not move them; iteration 2 moves
    # them to the mean of both iterations' embeddings; iteration 3 waits again.
    assert torch.equal(spy.prototypes[1], spy.prototypes[0])
    labels = torch.cat((spy.batches[0][1], spy.batches[1][1]))
    embeddings = torch.cat((spy.outputs[0], spy.outputs[1]))
    for label in (0, 1):
        mean = embeddings[labels == label].mean(0)
        moved = F.normalize(0.5 * spy.prototypes[0][label] + 0.5 * mean, dim=0)
        assert torch.allclose(spy.prototypes[2][label], moved, atol=1e-5)
    assert torch.equal(plugin.prototypes.vectors, spy.prototypes[2])


def test_predicts_the_nearest_prototype():
    plugin = CoPEPlugin(n_classes=3, p_size=2, T=0.5)
    plugin.prototypes.vectors = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    plugin.prototypes.known = torch.tensor([True, False, True])
    spy = Spy()
    identity = nn.Linear(2, 2, bias=False)
    identity.weight.data = torch.eye(2)
    strategy = _online(plugin, spy, model=identity)
    x = torch.tensor([[2.0, 0.5], [0.2, 1.0], [1.0, 1.2], [0.5, -1.0]])
    y = torch.tensor([0, 2, 0, 2])
    result = strategy.eval(
        Experience(TensorData(x, y), 0, "test", classes_in_this_experience=(0, 2))
    )
    scores = spy.eval_outputs[0]
    cosine = F.normalize(x, dim=1) @ torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T
    assert torch.allclose(scores[:, [0, 2]], cosine / 0.5, atol=1e-6)
    assert (scores[:, 1] < scores[:, [0, 2]].min(dim=1).values - 1000).all()
    assert scores.argmax(1).tolist() == [0, 2, 2, 0]
    assert result.metrics["accuracy"] == pytest.approx(0.5)
    expected_loss = F.cross_entropy(scores, y).item()
    assert result.metrics["loss"] == pytest.approx(expected_loss, rel=1e-5)


def test_scores_are_uniform_before_any_class_is_seen():
    plugin, spy = CoPEPlugin(n_classes=4, p_size=16), Spy()
    _online(plugin, spy).eval(kit.toy_benchmark(2).test_stream)
    assert all(torch.equal(s, torch.zeros(len(s), 4)) for s in spy.eval_outputs)


def test_state_round_trip_restores_training_and_prediction():
    stream = kit.online_stream()
    first = CoPEPlugin(mem_size=30, n_classes=4, p_size=16, max_it_cnt=3)
    _online(first).train(stream[:10])
    second = kit.state_round_trip(first, CoPEPlugin(mem_size=30, n_classes=4, p_size=16))
    assert torch.equal(first.prototypes.vectors, second.prototypes.vectors)
    assert second.iterations == 10 and len(second.memory) == 30
    resumed = kit.assert_resumes(
        lambda: _online(
            CoPEPlugin(mem_size=30, n_classes=4, p_size=16, max_it_cnt=3), evaluator=None
        ),
        stream[:14],
        split=10,
    )
    assert resumed.plugins[0].iterations == 14
    with pytest.raises(CheckpointError):
        second.load_state_dict({"memory": {}, "prototypes": {}, "iterations": 0})


def test_misuse_is_refused():
    stream = kit.online_stream()[:1]
    model = SimpleMLP(num_classes=16, input_size=8, hidden_sizes=(16,))
    no_loss = kit.online_strategy_for(model, [CoPEPlugin(n_classes=4, p_size=16)])
    with pytest.raises(PluginCompositionError, match="criterion"):
        no_loss.train(stream)
    with pytest.raises(PluginCompositionError, match="p_size=32"):
        _online(CoPEPlugin(n_classes=4, p_size=32), model=model).train(stream)
    with pytest.raises(ParameterError, match="n_classes=2"):
        _online(CoPEPlugin(n_classes=2, p_size=16), model=model).train(kit.online_stream()[-1:])
    for bad in ({"alpha": 1.5}, {"T": 0}, {"max_it_cnt": 0}, {"p_size": -1}, {"mem_size": 0}):
        with pytest.raises(ParameterError, match=next(iter(bad))):
            CoPEPlugin(**bad)


def test_strategy_builds_the_plugin_first_with_its_loss():
    torch.manual_seed(0)
    strategy = kit.assert_builds_its_plugin_first(
        CoPE, CoPEPlugin, mem_size=40, n_classes=4, p_size=4
    )
    strategy.train(kit.online_stream())
    assert strategy.eval(kit.toy_benchmark(2).test_stream).metrics["accuracy"] > 0.5
    with pytest.raises(ParameterError, match="criterion"):
        CoPE(model=strategy.model, optimizer=strategy.optimizer, criterion=nn.CrossEntropyLoss())


def test_cope_beats_online_naive_on_split_digits():
    naive = kit.online_accuracy(lr=0.02)
    plugin = CoPEPlugin(mem_size=200, n_classes=10, p_size=100)
    cope = kit.online_accuracy(
        [plugin], model=lambda: SimpleMLP(100, 64, (100,)), lr=0.02, criterion=plugin.criterion
    )
    assert naive < 0.25
    assert cope > naive + 0.45
