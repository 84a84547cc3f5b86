"""The iCaRL loss: hand-checked values, distillation targets from the frozen previous model,
evaluation without them, and a checkpoint round trip that resumes training identically."""

from copy import deepcopy

import pytest
import torch
from torch.nn import functional as F

from clhost import hookimpl
from clhost.data import Experience, TensorData
from clhost.errors import CheckpointError, ParameterError
from clhost.models import SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost.testing import assert_resumes, state_round_trip, toy_benchmark
from clhost_loss_icarl import ICaRLLoss, ICaRLLossPlugin, icarl_loss, icarl_targets


class LossRecorder(SupervisedPlugin):
    """Keeps each training minibatch, the model's weights and the loss computed on it."""

    def __init__(self):
        self.records = []

    @hookimpl
    def clhost_before_backward(self, strategy):
        weights = deepcopy(strategy.model.state_dict())
        self.records.append((strategy.mb_x, strategy.mb_y, weights, strategy.loss.detach()))


def build(criterion, plugins=(), seed=0):
    torch.manual_seed(seed)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    return SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        criterion=criterion,
        train_mb_size=20,
        train_epochs=2,
        plugins=list(plugins),
        evaluator=None,
    )


def test_the_loss_is_the_mean_binary_cross_entropy_by_hand():
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.0, -3.0, 0.5]])
    targets = torch.tensor([1, 0])
    one_hot = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    p = torch.sigmoid(logits)
    by_hand = -(one_hot * p.log() + (1 - one_hot) * (1 - p).log()).mean()
    torch.testing.assert_close(icarl_loss(logits, targets), by_hand)
    previous = torch.tensor([[3.0, 0.0, 9.0], [-2.0, 1.0, 9.0]])
    soft = icarl_targets(targets, 3, previous, torch.tensor([0, 1]))
    expected = torch.tensor([[0.9526, 0.5, 0.0], [0.1192, 0.7311, 0.0]])
    torch.testing.assert_close(soft, expected, atol=1e-4, rtol=0)


def test_on_the_first_experience_it_equals_plain_bce_on_one_hot_labels():
    recorder = LossRecorder()
    strategy = build(ICaRLLossPlugin(), [recorder])
    strategy.train(toy_benchmark(2, 2).train_stream[0])
    assert len(recorder.records) == 10
    model = deepcopy(strategy.model)
    for x, y, weights, recorded in recorder.records:
        model.load_state_dict(weights)
        with torch.no_grad():
            plain = torch.nn.BCEWithLogitsLoss()(model(x), F.one_hot(y, 4).float())
        torch.testing.assert_close(recorded, plain)


def test_old_units_are_distilled_from_the_frozen_model_of_the_last_experience():
    benchmark = toy_benchmark(2, 2)
    recorder = LossRecorder()
    criterion = ICaRLLossPlugin()
    strategy = build(criterion, [recorder])
    strategy.train(benchmark.train_stream[0])
    previous = deepcopy(strategy.model).eval()
    assert criterion.old_classes == [0, 1]
    recorder.records.clear()
    strategy.train(benchmark.train_stream[1])
    assert criterion.old_classes == [0, 1, 2, 3]
    current = deepcopy(previous)
    for x, y, weights, recorded in recorder.records:
        current.load_state_dict(weights)
        with torch.no_grad():
            targets = F.one_hot(y, 4).float()
            targets[:, :2] = torch.sigmoid(previous(x)[:, :2])
            expected = F.binary_cross_entropy_with_logits(current(x), targets)
        torch.testing.assert_close(recorded, expected)
    held = criterion.previous_model.module(strategy.model)
    assert all(not p.requires_grad for p in held.parameters())
    assert not held.training


def test_distillation_keeps_old_outputs_that_plain_bce_pushes_away():
    benchmark = toy_benchmark(2, 2)
    drifts = {}
    criteria = {
        "icarl": ICaRLLossPlugin(),
        "bce": lambda out, y: F.binary_cross_entropy_with_logits(out, F.one_hot(y, 4).float()),
    }
    for name, criterion in criteria.items():
        strategy = build(criterion)
        strategy.train(benchmark.train_stream[0])
        before = deepcopy(strategy.model).eval()
        strategy.train(benchmark.train_stream[1])
        x = benchmark.train_stream[1].dataset.x
        with torch.no_grad():
            old_before = torch.sigmoid(before(x)[:, :2])
            old_after = torch.sigmoid(strategy.model.eval()(x)[:, :2])
        drifts[name] = (old_after - old_before).abs().mean().item()
    assert drifts["icarl"] < 0.5 * drifts["bce"], drifts


def test_evaluation_uses_one_hot_targets_only():
    benchmark = toy_benchmark(2, 2)
    criterion = ICaRLLossPlugin()
    strategy = build(criterion)
    strategy.train(benchmark.train_stream)
    strategy.eval(benchmark.test_stream[0])
    assert criterion._previous_logits is None
    logits, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    expected = F.binary_cross_entropy_with_logits(logits, F.one_hot(y, 4).float())
    torch.testing.assert_close(criterion(logits, y), expected)


def test_state_round_trips_and_a_resumed_run_matches():
    stream = toy_benchmark(2, 2).train_stream
    resumed = assert_resumes(lambda: build(ICaRLLossPlugin()), stream, split=1)
    restored = state_round_trip(resumed.loss_fn, ICaRLLoss())
    assert restored.old_classes == [0, 1, 2, 3]
    assert restored.previous_model.state_dict().keys() == resumed.model.state_dict().keys()
    assert restored.state_key == "icarl-loss"


def test_bad_input_gets_clear_errors():
    loss = ICaRLLossPlugin()
    with pytest.raises(CheckpointError, match="old_classes"):
        loss.load_state_dict({"previous_model": None})
    loss._previous_logits = torch.zeros(3, 4)
    with pytest.raises(RuntimeError, match="another minibatch"):
        loss(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))
    strategy = build(ICaRLLossPlugin())
    strategy.experience = Experience([(torch.zeros(8), 0)], 0, classes_in_this_experience=())
    with pytest.raises(ParameterError, match="which classes"):
        strategy.loss_fn.clhost_after_training_exp(strategy)
    data = TensorData(torch.zeros(2, 8), torch.tensor([3, 1]))
    strategy.experience = Experience(data, 0, classes_in_this_experience=())
    strategy.loss_fn.clhost_after_training_exp(strategy)
    assert strategy.loss_fn.old_classes == [1, 3]
