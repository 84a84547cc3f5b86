"""MIRPlugin: replays the memory samples whose loss a virtual step on the incoming batch
raises most, leaves the model untouched while scoring, and beats online naive."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import clhost
from clhost import testing as kit
from clhost.data import Experience, TensorData
from clhost.errors import ParameterError
from clhost.models import SimpleMLP
from clhost_mir import MIR, MIRPlugin, interference_scores


class Recorder(clhost.SupervisedPlugin):
    """Placed after MIRPlugin: records, before each backward pass, the samples MIR
    replayed (``None`` when it replayed nothing) and the losses involved."""

    def __init__(self, mir):
        self.mir, self.replayed, self.losses = mir, [], []

    @clhost.hookimpl
    def clhost_before_backward(self, strategy):
        replay = strategy.loss_terms.get("mir_replay")
        self.replayed.append(self.mir.replayed if replay is not None else None)
        self.losses.append((strategy.loss.detach(), strategy.mb_output.detach(), replay))


def _batch(n, features=8, classes=4):
    return (
        torch.randn(n, features),
        torch.randint(0, classes, (n,)),
        torch.zeros(n, dtype=torch.long),
    )


def _incoming_loss(model, batch):
    return F.cross_entropy(model(batch[0]), batch[1])


def test_replays_the_samples_the_incoming_batch_interferes_with():
    """Incoming: class 0 at e0. Stored: class 1 at e0 (its loss must rise), class 0 at e0
    (its loss falls) and class 2 at e1 (a linear model without bias leaves it as is)."""
    model = nn.Sequential(nn.Linear(3, 3, bias=False))
    nn.init.zeros_(model[0].weight)
    e0, e1 = torch.eye(3)[0], torch.eye(3)[1]
    interfered = TensorData(e0.repeat(5, 1), torch.full((5,), 1))
    helped = TensorData(e0.repeat(5, 1), torch.zeros(5, dtype=torch.long))
    untouched = TensorData(e1.repeat(10, 1), torch.full((10,), 2))
    plugin = MIRPlugin(batch_size_mem=5, mem_size=20, subsample=20)
    plugin.buffer.update_from_data(TensorData.concat([helped, untouched, interfered]))
    incoming = Experience(TensorData(e0.repeat(10, 1), torch.zeros(10, dtype=torch.long)), 0)
    recorder = Recorder(plugin)
    kit.online_strategy_for(model, [plugin, recorder]).train(incoming)
    replayed = recorder.replayed[0]
    assert replayed.y.tolist() == [1] * 5 and torch.equal(replayed.x, e0.repeat(5, 1))


def test_replay_is_its_own_term_beside_the_incoming_loss():
    """The paper's loss: mean incoming cross-entropy + mean replayed cross-entropy, so
    10 replayed samples weigh as much as 32 incoming ones (not 10/42 of one mean)."""
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    plugin = MIRPlugin(batch_size_mem=10, mem_size=50, subsample=20)
    plugin.buffer.update_from_data(TensorData(*_batch(50)))
    x, y, _ = _batch(32)
    recorder = Recorder(plugin)
    strategy = kit.online_strategy_for(model, [plugin, recorder], lr=0.0)
    strategy.train_mb_size = 32
    strategy.train(Experience(TensorData(x, y), 0))
    total, output, replay = recorder.losses[0]
    replayed = recorder.replayed[0]
    assert output.shape[0] == 32  # the minibatch itself is not extended
    with torch.no_grad():
        expected_replay = F.cross_entropy(model(replayed.x), replayed.y)
        expected = F.cross_entropy(model(x), y) + expected_replay
    assert len(replayed) == 10
    assert torch.allclose(replay, expected_replay) and torch.allclose(total, expected)


def test_choice_matches_a_real_sgd_step_on_the_incoming_batch():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    incoming, stored = _batch(10), _batch(30)
    scores = interference_scores(model, optimizer, _incoming_loss(model, incoming), stored)

    stepped = copy.deepcopy(model)
    step = torch.optim.SGD(stepped.parameters(), lr=0.5)
    F.cross_entropy(stepped(incoming[0]), incoming[1]).backward()
    step.step()
    with torch.no_grad():
        rise = F.cross_entropy(stepped(stored[0]), stored[1], reduction="none") - F.cross_entropy(
            model(stored[0]), stored[1], reduction="none"
        )
    assert torch.allclose(scores, rise, atol=1e-5)
    assert set(scores.topk(8).indices.tolist()) == set(rise.topk(8).indices.tolist())


def test_scoring_leaves_parameters_gradients_and_buffers_unchanged():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    batch = _batch(10)
    loss = _incoming_loss(model, batch)
    before = copy.deepcopy(model.state_dict())
    interference_scores(model, optimizer, loss, batch)
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert all(p.grad is None for p in model.parameters())
    loss.backward()  # the incoming loss's graph is kept for the real step


def test_frozen_parameters_stay_fixed_in_the_virtual_step():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    optimizer = torch.optim.SGD(model.classifier.parameters(), lr=0.5)  # features frozen
    batch = _batch(10)
    scores = interference_scores(model, optimizer, _incoming_loss(model, batch), batch)
    stepped = copy.deepcopy(model)
    F.cross_entropy(stepped(batch[0]), batch[1]).backward()
    torch.optim.SGD(stepped.classifier.parameters(), lr=0.5).step()
    with torch.no_grad():
        rise = F.cross_entropy(stepped(batch[0]), batch[1], reduction="none") - F.cross_entropy(
            model(batch[0]), batch[1], reduction="none"
        )
    assert torch.allclose(scores, rise, atol=1e-5)


def test_reservoir_memory_takes_each_minibatch_once_and_stays_bounded():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    plugin = MIRPlugin(batch_size_mem=4, mem_size=30, subsample=12)
    recorder = Recorder(plugin)
    kit.online_strategy_for(model, [plugin, recorder], train_passes=2).train(
        kit.online_stream()[:2]
    )
    # stored after its first update: the second pass over the first minibatch replays it
    assert [None if r is None else len(r) for r in recorder.replayed] == [None, 4, 4, 4]
    assert len(plugin.buffer.buffer) == 20
    kit.online_strategy_for(model, [plugin]).train(kit.online_stream())
    assert len(plugin.buffer.buffer) == 30


def test_memory_takes_each_sample_once_over_several_epochs():
    """Three epochs over 40 samples offer the reservoir 40 samples, not 120 (which would
    leave duplicates in a memory of 40)."""
    torch.manual_seed(0)
    plugin = MIRPlugin(batch_size_mem=4, mem_size=40, subsample=12)
    strategy = kit.strategy_for(SimpleMLP(4, 8, (16,)), [plugin], train_mb_size=10, train_epochs=3)
    x, y, _ = _batch(40)
    strategy.train(Experience(TensorData(x, y), 0))
    held = plugin.buffer.buffer.x
    assert len(held) == 40 and len(torch.unique(held, dim=0)) == 40


@pytest.mark.parametrize("memory", ["reservoir", "class_balanced"])
def test_class_balanced_memory_gives_each_class_its_share(memory):
    """90 samples of class 0, then 10 of class 1, memory 20: the reservoir holds a
    uniform sample of the stream (here 1 of class 1), the class-balanced memory 10 of
    each class."""
    torch.manual_seed(0)
    plugin = MIRPlugin(batch_size_mem=4, mem_size=20, subsample=12, memory=memory)
    strategy = kit.strategy_for(SimpleMLP(2, 8, (16,)), [plugin], train_mb_size=10)
    y = (torch.arange(100) >= 90).long()
    strategy.train(
        Experience(TensorData(torch.randn(100, 8), y), 0, classes_in_this_experience=(0, 1))
    )
    counts = torch.bincount(plugin.buffer.buffer.y, minlength=2).tolist()
    assert counts == ([10, 10] if memory == "class_balanced" else [19, 1])


def test_state_round_trip_restores_replay():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    first = MIRPlugin(batch_size_mem=5, mem_size=30, subsample=10)
    kit.online_strategy_for(model, [first]).train(kit.online_stream()[:8])
    second = kit.state_round_trip(first, MIRPlugin(batch_size_mem=5, mem_size=30, subsample=10))
    runs = []
    for plugin in (first, second):
        recorder = Recorder(plugin)
        torch.manual_seed(1)
        kit.online_strategy_for(copy.deepcopy(model), [plugin, recorder]).train(
            kit.online_stream()[8:10]
        )
        runs.append(recorder.replayed)
    for a, b in zip(*runs, strict=True):
        assert all(torch.equal(u, v) for u, v in zip(a.tensors, b.tensors, strict=True))


def test_resumes_from_a_checkpoint():
    def build():
        plugin = MIRPlugin(batch_size_mem=5, mem_size=30, subsample=10)
        return kit.online_strategy_for(SimpleMLP(4, 8, (16,)), [plugin])

    resumed = kit.assert_resumes(build, kit.online_stream()[:14], split=12)
    assert len(resumed.plugins[0].buffer) == 30


def test_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="subsample"):
        MIRPlugin(batch_size_mem=10, subsample=5)
    with pytest.raises(ParameterError, match="mem_size"):
        MIRPlugin(mem_size=-1)
    with pytest.raises(ParameterError, match="memory"):
        MIRPlugin(memory="fifo")


def test_strategy_builds_the_plugin_first():
    strategy = kit.assert_builds_its_plugin_first(
        MIR, MIRPlugin, batch_size_mem=3, mem_size=40, subsample=6, memory="class_balanced"
    )
    strategy.train(kit.toy_benchmark(2).train_stream)
    assert len(strategy.plugins[0].buffer.buffer) == 40


def test_mir_beats_online_naive_on_split_digits():
    naive = kit.online_accuracy(lr=0.2)
    mir = kit.online_accuracy([MIRPlugin(batch_size_mem=10, mem_size=200, subsample=50)], lr=0.2)
    assert naive < 0.25
    assert mir > naive + 0.35
