"""LwF's term: zero before there is a previous model, distils only units of classes seen
before (per task head for multi-task models), follows its alpha schedule, and its state
restores the previous model exactly."""

from importlib.metadata import entry_points

import pytest
import torch
import torch.nn.functional as F

from clhost import testing as kit
from clhost.errors import CheckpointError, ParameterError
from clhost.models import IncrementalMLP, MultiHeadMLP
from clhost.templates import SupervisedTemplate
from clhost.testing import LossTermProbe, state_round_trip, strategy_for, toy_benchmark
from clhost_loss_lwf import LearningWithoutForgetting, distillation_loss


def _train(model, lwf, experiences, *, as_criterion=False, epochs=2):
    strategy = SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        criterion=lwf if as_criterion else None,
        plugins=() if as_criterion else [lwf],
        train_epochs=epochs,
        evaluator=None,
    )
    for experience in experiences:
        strategy.train(experience)
    return strategy


def _perturb(model):
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.3 * torch.randn_like(param))


def test_zero_on_the_first_experience():
    torch.manual_seed(0)
    bench = toy_benchmark(2, 2)
    probe = LossTermProbe("lwf")
    model = IncrementalMLP(input_size=8, hidden_sizes=(16,))
    strategy = strategy_for(model, [LearningWithoutForgetting(), probe], optimizer="sgd", lr=0.1)
    strategy.train(bench.train_stream[0])
    assert probe.values and all(term == 0 for _, term in probe.values)
    strategy.train(bench.train_stream[1])
    assert probe.values[-1][1] > 0


def test_distils_only_units_of_previous_classes():
    torch.manual_seed(0)
    bench = toy_benchmark(2, 2)
    model = IncrementalMLP(input_size=8, hidden_sizes=(16,))
    lwf = LearningWithoutForgetting(alpha=1.0, temperature=2.0)
    strategy = _train(model, lwf, bench.train_stream[:1])
    strategy.model_adaptation(bench.train_stream[1])  # grow to the new classes' units
    assert model.classifier.out_features == 4
    _perturb(model)
    x = bench.train_stream[1].dataset.x
    output = model(x)
    output.retain_grad()
    term = lwf(x, output, model)
    term.backward()
    assert term > 0
    assert (output.grad[:, 2:] == 0).all() and (output.grad[:, :2] != 0).any()
    classifier = model.classifier.classifier
    assert (classifier.weight.grad[2:] == 0).all() and (classifier.bias.grad[2:] == 0).all()
    assert (classifier.weight.grad[:2] != 0).any()


def test_multi_task_model_distils_every_previous_head_on_current_inputs():
    torch.manual_seed(0)
    bench = toy_benchmark(2, 2, task_labels=True)
    model = MultiHeadMLP(input_size=8, hidden_sizes=(16,))
    lwf = LearningWithoutForgetting()
    strategy = _train(model, lwf, bench.train_stream[:1])
    assert lwf.previous_classes == {0: (0, 1)}
    strategy.model_adaptation(bench.train_stream[1])
    x, t = bench.train_stream[1].dataset.x, bench.train_stream[1].dataset.t
    output = model(x, t)
    assert lwf(x, output, model) == 0  # nothing changed yet: KL is exactly zero
    _perturb(model)
    model.zero_grad()
    term = lwf(x, model(x, t), model)
    term.backward()
    heads = model.classifier.heads
    assert term > 0
    assert heads["0"].weight.grad.abs().sum() > 0  # head of the old task, current inputs
    assert heads["1"].weight.grad is None  # the current head is not distilled


def test_matches_soft_cross_entropy_minus_the_previous_entropy():
    torch.manual_seed(0)
    logits, previous = torch.randn(5, 4), torch.randn(5, 4)
    units, temperature = torch.tensor([0, 2, 3]), 3.0
    q = F.softmax(previous[:, units] / temperature, dim=1)
    soft_ce = -(q * F.log_softmax(logits[:, units] / temperature, dim=1)).sum(1).mean()
    entropy = -(q * q.log()).sum(1).mean()
    got = distillation_loss(logits, previous, units, temperature)
    assert torch.allclose(got, soft_ce - entropy, atol=1e-6)


def test_alpha_schedule_indexed_by_experience():
    torch.manual_seed(0)
    bench = toy_benchmark(3, 2)
    scheduled = LearningWithoutForgetting(alpha=[0.0, 2.0, 5.0])
    model = IncrementalMLP(input_size=8, hidden_sizes=(16,))
    _train(model, scheduled, bench.train_stream[:1])
    constant = LearningWithoutForgetting(alpha=1.0)
    constant.load_state_dict(scheduled.state_dict())
    _perturb(model)
    x = bench.train_stream[1].dataset.x
    output = model(x)
    assert constant(x, output, model) > 0
    assert torch.allclose(scheduled(x, output, model), 2.0 * constant(x, output, model))
    scheduled.experiences_seen = 3
    with pytest.raises(ParameterError, match="alpha lists 3 weights but experience 3"):
        scheduled(x, output, model)


def test_bad_parameters_are_named():
    kit.assert_refuses(
        LearningWithoutForgetting,
        ({"alpha": -1.0}, r"alpha must be in \[0, inf\), got -1.0"),
        ({"alpha": "1"}, "alpha must be a finite number, got '1'"),
        ({"alpha": []}, "alpha must be a non-negative number or a non-empty list of them"),
        ({"alpha": [1.0, "x"]}, r"alpha\[1\] must be a finite number, got 'x'"),
        ({"temperature": 0.0}, r"temperature must be in \(0, inf\)"),
        ({"temperature": True}, "temperature must be a finite number"),
    )


def test_as_a_criterion_it_is_cross_entropy_plus_its_term():
    torch.manual_seed(0)
    bench = toy_benchmark(2, 2)
    model = IncrementalMLP(input_size=8, hidden_sizes=(16,))
    lwf = LearningWithoutForgetting()
    output, targets = torch.randn(6, 4), torch.randint(0, 4, (6,))
    assert torch.equal(lwf(output, targets), F.cross_entropy(output, targets))
    strategy = _train(model, lwf, bench.train_stream, as_criterion=True)
    assert lwf.experiences_seen == 2  # its hooks ran: registered through the criterion
    assert set(strategy.loss_terms) == {"lwf"} and strategy.loss_terms["lwf"] > 0
    with pytest.raises(TypeError, match="called as"):
        lwf(output)


def test_state_round_trip_restores_the_previous_model_exactly():
    torch.manual_seed(0)
    bench = toy_benchmark(2, 2, task_labels=True)
    model = MultiHeadMLP(input_size=8, hidden_sizes=(16,))
    lwf = LearningWithoutForgetting(alpha=[1.0, 0.5])
    _train(model, lwf, bench.train_stream[:1])
    restored = state_round_trip(lwf, LearningWithoutForgetting(alpha=[1.0, 0.5]))
    assert restored.state_dict()["previous_classes"] == {"0": [0, 1]}
    assert restored.experiences_seen == 1
    x = bench.train_stream[1].dataset.x
    _perturb(model)
    t = torch.zeros(len(x), dtype=torch.long)
    output = model(x, t)
    assert torch.equal(restored(x, output, model), lwf(x, output, model))
    copy = restored.previous_model.module(model)
    original = lwf.previous_model.module(model)
    expected = original.state_dict()
    assert list(copy.state_dict()) == list(expected)
    for name, tensor in copy.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    assert not any(p.requires_grad for p in copy.parameters()) and not copy.training


def test_state_that_does_not_fit_the_model_is_a_checkpoint_error():
    torch.manual_seed(0)
    bench = toy_benchmark(2, 2)
    lwf = LearningWithoutForgetting()
    _train(IncrementalMLP(input_size=8, hidden_sizes=(16,)), lwf, bench.train_stream[:1])
    other = LearningWithoutForgetting()
    other.load_state_dict(lwf.state_dict())
    wider = IncrementalMLP(input_size=8, hidden_sizes=(32,))
    x = bench.train_stream[1].dataset.x
    with pytest.raises(CheckpointError, match="does not fit"):
        other(x, wider(x), wider)
    with pytest.raises(CheckpointError, match="lacks"):
        other.load_state_dict({"previous_model": None})


def test_registered_as_the_lwf_loss():
    (entry,) = entry_points(group="clhost.losses", name="lwf")
    assert entry.load() is LearningWithoutForgetting
    assert LearningWithoutForgetting.state_key == "lwf"
