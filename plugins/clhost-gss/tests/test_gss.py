"""GSS-greedy: scores are 1 + the largest gradient cosine with stored samples, duplicates
never enter, gradient-diverse samples do, and online replay from it beats naive."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import clhost
from clhost import testing as kit
from clhost.errors import ParameterError
from clhost.models import MultiHeadMLP, SimpleMLP
from clhost_gss import GradientDiverseMemory, GSS_greedy, GSS_greedyPlugin, per_sample_gradients


def _autograd_rows(model, x, y, t=None):
    rows = []
    for i in range(len(x)):
        args = (x[i : i + 1],) if t is None else (x[i : i + 1], t[i : i + 1])
        loss = F.cross_entropy(model(*args), y[i : i + 1])
        params = list(model.parameters())
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        grads = [
            torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)
        ]
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)


def test_per_sample_gradients_match_autograd_and_keep_the_mode():
    torch.manual_seed(0)
    x, y, t = torch.randn(6, 8), torch.randint(0, 4, (6,)), torch.tensor([0, 0, 1, 1, 0, 1])
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    assert torch.allclose(per_sample_gradients(model, x, y, t), _autograd_rows(model, x, y))
    assert model.training
    heads = MultiHeadMLP(input_size=8, hidden_sizes=(16,), initial_out_features=4)
    for task in (0, 1):
        heads.classifier.adaptation(clhost.Experience(None, task, task_labels=(task,)))
    assert torch.allclose(per_sample_gradients(heads, x, y, t), _autograd_rows(heads, x, y, t))


def test_per_sample_gradients_take_one_forward_pass_per_task():
    """Vectorised (``torch.func``), not one sample at a time: the forward hook of the
    model fires once for a single-head model and once per task for a multi-head one."""
    x, y, t = torch.randn(6, 8), torch.randint(0, 4, (6,)), torch.tensor([0, 0, 1, 1, 0, 1])
    heads = MultiHeadMLP(input_size=8, hidden_sizes=(16,), initial_out_features=4)
    for task in (0, 1):
        heads.classifier.adaptation(clhost.Experience(None, task, task_labels=(task,)))
    for model, passes in ((SimpleMLP(num_classes=4, input_size=8), 1), (heads, 2)):
        calls = []
        model.register_forward_hook(lambda *_, calls=calls: calls.append(1))
        per_sample_gradients(model, x, y, t)
        assert len(calls) == passes


def _zero_linear(n_features=4, n_classes=10):
    model = nn.Linear(n_features, n_classes, bias=False)
    nn.init.zeros_(model.weight)
    return model


def _labels(*values):
    return torch.tensor(values, dtype=torch.long)


def test_scores_are_one_plus_the_largest_cosine_with_stored_gradients():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=3, input_size=5, hidden_sizes=(8,))
    memory = GradientDiverseMemory(mem_size=6, mem_strength=6, input_size=(5,))
    stored_x, stored_y = torch.randn(6, 5), torch.randint(0, 3, (6,))
    memory.offer(model, stored_x, stored_y, torch.zeros(6, dtype=torch.long))
    assert memory.scores.tolist() == [1.0] * 6  # scored against an empty memory
    x, y = torch.randn(4, 5), torch.randint(0, 3, (4,))
    scores = memory.score(model, x, y, torch.zeros(4, dtype=torch.long))
    incoming, stored = _autograd_rows(model, x, y), _autograd_rows(model, stored_x, stored_y)
    cosine = F.cosine_similarity(incoming.unsqueeze(1), stored.unsqueeze(0), dim=2)
    assert torch.allclose(scores, cosine.max(dim=1).values.double() + 1, atol=1e-6)


def test_a_duplicate_of_a_stored_sample_never_enters():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    memory = GradientDiverseMemory(mem_size=10, mem_strength=10, input_size=None)
    x, y = torch.randn(10, 8), torch.randint(0, 4, (10,))
    memory.offer(model, x, y, torch.zeros(10, dtype=torch.long))
    for _ in range(5):
        memory.offer(model, x[3].repeat(10, 1), y[3].repeat(10), torch.zeros(10, dtype=torch.long))
    assert torch.equal(memory.data.x, x) and torch.equal(memory.data.y, y)


def test_an_opposite_gradient_enters_for_sure_and_its_copy_is_then_refused():
    """Zero weights, no bias: the gradient of (x, y) is (softmax - onehot(y)) x^T, so the
    sample (-x, y) has exactly the opposite gradient of (x, y): its score is 0."""
    model = _zero_linear()
    memory = GradientDiverseMemory(mem_size=10, mem_strength=10, input_size=(4,))
    x = torch.ones(4)
    zeros = torch.zeros(10, dtype=torch.long)
    memory.offer(model, x.repeat(10, 1), zeros, zeros)
    for _ in range(3):
        memory.offer(model, -x.unsqueeze(0), _labels(0), _labels(0))
    opposite = (memory.data.x == -x).all(dim=1)
    assert int(opposite.sum()) == 1
    assert memory.scores[opposite].item() == pytest.approx(0.0, abs=1e-6)


def test_memory_keeps_gradient_diverse_samples_among_duplicates():
    """A stream of 100 copies of one sample of class 0 and one sample of each class 1-9
    with the same input (gradient cosine -1/9 with the copies), copies first. A uniform
    memory of 10 would hold fewer than 1.9 classes on average; GSS keeps far more."""
    model = _zero_linear()
    held_classes = []
    for seed in range(20):
        torch.manual_seed(seed)
        y = torch.cat((torch.zeros(100, dtype=torch.long), torch.arange(1, 10)))
        y = y[torch.cat((torch.arange(10), 10 + torch.randperm(99)))]
        x, t = torch.ones(len(y), 4), torch.zeros(len(y), dtype=torch.long)
        memory = GradientDiverseMemory(mem_size=10, mem_strength=10, input_size=(4,))
        for start in range(0, len(y), 10):
            stop = start + 10
            memory.offer(model, x[start:stop], y[start:stop], t[start:stop])
        held_classes.append(len(set(memory.data.y.tolist())))
    assert sum(held_classes) / len(held_classes) >= 4


class Batches(clhost.SupervisedPlugin):
    def __init__(self):
        self.sizes = []

    @clhost.hookimpl
    def clhost_before_forward(self, strategy):
        self.sizes.append(len(strategy.mb_y))


def _online(plugins, **kwargs):
    torch.manual_seed(0)
    return kit.online_strategy_for(SimpleMLP(4, 8, (100,)), plugins, **kwargs)


def test_replay_joins_minibatches_and_each_minibatch_is_offered_once():
    plugin, batches = GSS_greedyPlugin(mem_size=25, batch_size_mem=4), Batches()
    _online([plugin, batches], train_passes=2).train(kit.online_stream()[:2])
    assert batches.sizes == [10, 14, 14, 14]
    assert len(plugin.memory) == 20
    default = GSS_greedyPlugin(mem_size=25)
    sizes = Batches()
    _online([default, sizes]).train(kit.online_stream()[:3])
    assert sizes.sizes == [10, 20, 20] and len(default.memory) == 25


def _supervised(plugins, **kwargs):
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    return kit.strategy_for(model, plugins, optimizer="sgd", lr=0.1, train_mb_size=10, **kwargs)


class ReplayedClasses(clhost.SupervisedPlugin):
    """Records, per experience, the classes of the samples GSS appended to minibatches."""

    def __init__(self):
        self.classes = {}

    @clhost.hookimpl
    def clhost_before_forward(self, strategy):
        replayed = strategy.mb_y[10:].tolist()  # minibatches of 10 new samples, then replay
        self.classes.setdefault(strategy.clock.train_exp_counter, set()).update(replayed)


@pytest.mark.parametrize("snapshot", [False, True])
def test_replay_snapshot_replays_only_what_earlier_experiences_left(snapshot):
    torch.manual_seed(0)
    benchmark = kit.toy_benchmark(2, classes_per_experience=2)
    plugin, seen = GSS_greedyPlugin(mem_size=30, replay_snapshot=snapshot), ReplayedClasses()
    _supervised([plugin, seen]).train(benchmark.train_stream)
    first, second = benchmark.train_stream
    if snapshot:  # nothing to replay in the first experience, then only its classes
        assert seen.classes.get(0, set()) == set()
        assert seen.classes[1] == set(first.classes_in_this_experience)
    else:  # the live memory: the current experience's samples are replayed as they enter
        assert seen.classes[0] == set(first.classes_in_this_experience)
        assert seen.classes[1] & set(second.classes_in_this_experience)
    with pytest.raises(ParameterError, match="replay_snapshot"):
        GSS_greedyPlugin(replay_snapshot="yes")


def test_replay_snapshot_refuses_a_stream_without_boundaries():
    plugin = GSS_greedyPlugin(mem_size=10, replay_snapshot=True)
    with pytest.raises(ParameterError, match="boundaries_known=False"):
        _online([plugin], boundaries_known=False).train(kit.online_stream()[:2])


@pytest.mark.parametrize("each_epoch", [False, True])
def test_each_sample_is_offered_once_however_many_epochs(each_epoch):
    offered = []
    plugin = GSS_greedyPlugin(mem_size=5, offer_each_epoch=each_epoch)
    plugin.memory.offer = lambda model, x, y, t: offered.append(len(y))
    stream = kit.toy_benchmark(2).train_stream
    _supervised([plugin], train_epochs=3).train(stream)
    samples = sum(len(experience.dataset) for experience in stream)
    assert sum(offered) == (3 * samples if each_epoch else samples)
    with pytest.raises(ParameterError, match="offer_each_epoch"):
        GSS_greedyPlugin(offer_each_epoch=1)


def test_input_size_allocates_storage_and_refuses_other_shapes():
    plugin = GSS_greedyPlugin(mem_size=5, input_size=(8,))
    assert plugin.memory.data.x.shape == (0, 8)
    with pytest.raises(ParameterError, match="input_size"):
        _online([GSS_greedyPlugin(mem_size=5, input_size=(3, 3))]).train(kit.online_stream()[:1])
    assert GSS_greedyPlugin(input_size=[1, 28, 28]).input_size == (1, 28, 28)
    for bad in ((0, 3), "64", ()):
        with pytest.raises(ParameterError, match="input_size"):
            GSS_greedyPlugin(input_size=bad)
    with pytest.raises(ParameterError, match="mem_strength"):
        GSS_greedyPlugin(mem_strength=0)


def test_state_round_trip_restores_memory_and_scores():
    first = GSS_greedyPlugin(mem_size=15, mem_strength=5)
    _online([first]).train(kit.online_stream()[:6])
    second = kit.state_round_trip(first, GSS_greedyPlugin(mem_size=15, mem_strength=5))
    for plugin in (first, second):
        torch.manual_seed(3)
        _online([plugin]).train(kit.online_stream()[6:12])
    a, b = first.memory, second.memory
    assert torch.equal(a.data.x, b.data.x) and torch.equal(a.data.y, b.data.y)
    assert torch.equal(a.scores, b.scores)


def test_strategy_builds_the_plugin_first():
    strategy = kit.assert_builds_its_plugin_first(
        GSS_greedy, GSS_greedyPlugin, mem_size=30, mem_strength=3, input_size=(8,)
    )
    strategy.train_mb_size = 10
    strategy.train(kit.toy_benchmark(2).train_stream[:1])
    assert len(strategy.plugins[0].memory) == 30


def test_gss_beats_online_naive_on_split_digits():
    naive = kit.online_accuracy(lr=0.2)
    gss = kit.online_accuracy(
        [GSS_greedyPlugin(mem_size=200, mem_strength=5, input_size=(64,))], lr=0.2
    )
    assert naive < 0.25
    assert gss > naive + 0.35


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("multi_head", [False, True])
def test_runs_on_cuda(multi_head):
    torch.manual_seed(0)
    benchmark = kit.toy_benchmark(2, task_labels=multi_head)
    model = MultiHeadMLP(input_size=8, hidden_sizes=(16,)) if multi_head else SimpleMLP(4, 8)
    plugin = GSS_greedyPlugin(mem_size=15, mem_strength=3)
    strategy = kit.strategy_for(
        model, [plugin], optimizer="sgd", lr=0.1, train_mb_size=10, device="cuda"
    )
    strategy.train(benchmark.train_stream)
    assert len(plugin.memory) == 15 and plugin.memory.data.x.is_cuda
    x, y, t = (part.cuda() for part in benchmark.train_stream[1].dataset.tensors[:3])
    assert per_sample_gradients(model, x[:4], y[:4], t[:4]).is_cuda
