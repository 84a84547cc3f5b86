"""ERACEPlugin: class-balanced memory, replay as its own loss term, asymmetric masks
equal to ACECriterion, a checkpointable state, and online learning that beats naive."""

import pytest
import torch

import clhost
from clhost import testing as kit
from clhost.benchmarks import split_digits
from clhost.errors import ParameterError
from clhost.models import MultiHeadMLP, SimpleMLP
from clhost_er_ace import ER_ACE, ERACEPlugin
from clhost_loss_ace import ACECriterion


def _online(plugins, **kwargs):
    torch.manual_seed(0)
    return kit.online_strategy_for(SimpleMLP(4, 8, (100,)), plugins, **kwargs)


class Spy(clhost.SupervisedPlugin):
    """Placed around ERACEPlugin: records minibatch sizes, raw or masked outputs, losses."""

    def __init__(self):
        self.sizes, self.outputs, self.targets, self.losses = [], [], [], []
        self.replay_terms = []

    @clhost.hookimpl
    def clhost_after_forward(self, strategy):
        self.sizes.append(len(strategy.mb_y))
        self.outputs.append(strategy.mb_output.detach().clone())
        self.targets.append(strategy.mb_y.clone())

    @clhost.hookimpl
    def clhost_before_backward(self, strategy):
        self.losses.append(strategy.loss.detach().clone())
        self.replay_terms.append(strategy.loss_terms.get("ace_replay"))


def test_memory_is_class_balanced_and_bounded():
    plugin = ERACEPlugin(mem_size=30, batch_size_mem=5)
    _online([plugin]).train(kit.online_stream())  # 4 classes of 50 samples
    counts = torch.bincount(plugin.buffer.buffer.y, minlength=4)
    assert counts.sum() == 30
    assert counts.max() - counts.min() <= 1


def test_replay_is_its_own_term_once_memory_is_filled():
    after = Spy()
    _online([ERACEPlugin(mem_size=30, batch_size_mem=5), after]).train(kit.online_stream()[:4])
    assert after.sizes == [10, 10, 10, 10]  # the minibatch itself is not extended
    assert [term is None for term in after.replay_terms] == [True, False, False, False]


def test_outputs_are_masked_asymmetrically_and_the_loss_is_ace():
    """The paper's loss: restricted incoming mean + replayed mean over the seen classes,
    so 10 replayed samples weigh as much as the incoming minibatch."""
    raw, masked = Spy(), Spy()
    plugin = ERACEPlugin(mem_size=40, batch_size_mem=10)
    stream = kit.online_stream()  # classes 0, 1 then 2, 3
    strategy = _online([raw, plugin, masked])
    replays = []
    for experience in stream[:11]:  # the last brings classes 2, 3
        strategy.train(experience)
        replays.append(plugin.replayed)
    out, targets, shown = raw.outputs[-1], raw.targets[-1], masked.outputs[-1]
    assert set(targets.tolist()) == {2, 3} and len(targets) == 10
    assert torch.isinf(shown[:, [0, 1]]).all() and torch.isfinite(shown[:, [2, 3]]).all()
    early = masked.outputs[0]  # first minibatch: classes 0, 1 only, no replay
    assert torch.isinf(early[:, [2, 3]]).all()
    assert set(replays[-1].y.tolist()) <= {0, 1}  # replay: samples of classes seen before
    incoming = ACECriterion()(out, targets)
    term = masked.replay_terms[-1]
    assert masked.losses[-1].item() == pytest.approx((incoming + term).item(), rel=1e-5)


def test_replayed_samples_exclude_classes_not_seen_yet():
    plugin = ERACEPlugin(mem_size=40, batch_size_mem=10)
    model_outputs = []

    class Probe(clhost.SupervisedPlugin):
        @clhost.hookimpl
        def clhost_before_backward(self, strategy):
            if plugin.replayed is not None:
                model_outputs.append(strategy.model(plugin.replayed.x).detach())

    strategy = _online([plugin, Probe()])
    strategy.train(kit.online_stream()[:3])  # classes 0, 1 only so far
    term = strategy.loss_terms["ace_replay"]
    replay, out = plugin.replayed, model_outputs[-1]
    seen_only = torch.nn.functional.cross_entropy(out[:, [0, 1]], replay.y)
    every_unit = torch.nn.functional.cross_entropy(out, replay.y)
    assert term.item() == pytest.approx(seen_only.item(), rel=1e-5)
    assert term.item() != pytest.approx(every_unit.item(), rel=1e-3)


def test_memory_takes_each_minibatch_once_whatever_the_passes():
    plugin = ERACEPlugin(mem_size=200, batch_size_mem=10)
    _online([plugin], train_passes=3).train(kit.online_stream()[:5])
    assert len(plugin.buffer.buffer) == 50


def test_memory_takes_each_sample_once_over_several_epochs():
    torch.manual_seed(0)
    plugin = ERACEPlugin(mem_size=40, batch_size_mem=5)
    strategy = kit.strategy_for(SimpleMLP(4, 8, (16,)), [plugin], train_mb_size=10, train_epochs=3)
    strategy.train(kit.toy_benchmark(1).train_stream[0])  # 2 classes of 50 samples
    held = plugin.buffer.buffer.x
    assert len(held) == 40 and len(torch.unique(held, dim=0)) == 40


def test_state_round_trip_restores_replay():
    first = ERACEPlugin(mem_size=30, batch_size_mem=5)
    stream = kit.online_stream()
    _online([first]).train(stream[:12])
    second = kit.state_round_trip(first, ERACEPlugin(mem_size=30, batch_size_mem=5))
    assert torch.equal(first.seen_units, second.seen_units)
    assert torch.equal(first.buffer.buffer.x, second.buffer.buffer.x)
    resumed = kit.assert_resumes(
        lambda: _online([ERACEPlugin(mem_size=30, batch_size_mem=5)]),
        stream[:14],
        split=12,
    )
    assert len(resumed.plugins[0].buffer) == 30


def test_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="mem_size"):
        ERACEPlugin(mem_size=0)
    with pytest.raises(ParameterError, match="batch_size_mem"):
        ERACEPlugin(batch_size_mem=2.5)


def test_strategy_builds_the_plugin_first():
    strategy = kit.assert_builds_its_plugin_first(
        ER_ACE, ERACEPlugin, mem_size=50, batch_size_mem=7
    )
    strategy.train(kit.toy_benchmark(2).train_stream)
    assert len(strategy.plugins[0].buffer.buffer) == 50


def test_er_ace_beats_online_naive_on_split_digits():
    naive = kit.online_accuracy()
    er_ace = kit.online_accuracy([ERACEPlugin(mem_size=200, batch_size_mem=10)])
    assert naive < 0.25
    assert er_ace > naive + 0.35


def test_outputs_narrower_than_the_seen_units_are_masked():
    # A multi-head model's output is as wide as the heads in the minibatch, which can be
    # narrower than the units seen on another head's minibatches.
    plugin = ERACEPlugin()
    plugin.seen_units = torch.ones(10, dtype=torch.bool)
    plugin._n_incoming = 2
    strategy = type("Strategy", (), {})()
    strategy.mb_output, strategy.mb_y = torch.zeros(3, 9), torch.tensor([3, 4, 8])
    plugin.clhost_after_forward(strategy)
    assert strategy.mb_output.shape == (3, 9)
    assert len(plugin.seen_units) == 10 and plugin.seen_units.all()


def test_multi_head_stream_trains():
    torch.manual_seed(0)
    model = MultiHeadMLP(input_size=64, hidden_sizes=(16,))
    strategy = ER_ACE(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), mem_size=50
    )
    for experience in split_digits(task_labels=True).train_stream:
        strategy.train(experience)
    assert strategy.plugins[0].seen_units.all()
