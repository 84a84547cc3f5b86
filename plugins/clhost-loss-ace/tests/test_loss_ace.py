"""ACE restricts the softmax of incoming samples to their batch's classes and the softmax
of replayed samples to the seen classes: checked by hand, by gradients, and in training."""

import math

import pytest
import torch

from clhost.models import SimpleMLP
from clhost.templates import SupervisedTemplate
from clhost.testing import toy_benchmark
from clhost_loss_ace import ACECriterion, present_units, restrict_logits


def test_incoming_samples_compete_only_with_the_classes_of_their_batch():
    logits = torch.tensor([[2.0, 1.0, 0.0, 3.0], [0.5, 4.0, 1.0, 2.0]])
    targets = torch.tensor([0, 1])  # classes 2 and 3 are absent from the batch
    first = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(1.0)))
    second = -math.log(math.exp(4.0) / (math.exp(0.5) + math.exp(4.0)))
    loss = ACECriterion()(logits, targets)
    assert loss.item() == pytest.approx((first + second) / 2, rel=1e-6)


def test_replayed_samples_compete_with_every_seen_class():
    out_in, target_in = torch.tensor([[2.0, 1.0, 0.0, 3.0]]), torch.tensor([3])
    out_mem, target_mem = torch.tensor([[1.0, 2.0, 3.0, 5.0]]), torch.tensor([2])
    incoming = 0.0  # the only class of the batch: a softmax over one unit
    replayed = -math.log(math.exp(3.0) / (math.exp(1.0) + math.exp(2.0) + math.exp(3.0)))
    ace = ACECriterion()
    for seen in ([0, 1, 2], torch.tensor([True, True, True, False])):
        loss = ace(out_in, target_in, out_mem, target_mem, seen_classes=seen)
        assert loss.item() == pytest.approx(incoming + replayed, rel=1e-6)
    every_unit = -torch.log_softmax(out_mem, dim=1)[0, 2].item()
    assert ace(out_in, target_in, out_mem, target_mem).item() == pytest.approx(
        incoming + every_unit, rel=1e-6
    )


def test_the_loss_is_the_sum_of_the_two_means_whatever_the_batch_sizes():
    torch.manual_seed(0)
    out_in, target_in = torch.randn(4, 5), torch.tensor([0, 1, 1, 0])
    out_mem, target_mem = torch.randn(2, 5), torch.tensor([2, 3])
    ace = ACECriterion()
    incoming = ace(out_in, target_in)
    replayed = torch.nn.functional.cross_entropy(out_mem, target_mem)
    combined = ace(out_in, target_in, out_mem, target_mem)
    assert combined.item() == pytest.approx(incoming.item() + replayed.item())


def test_absent_classes_get_no_gradient_from_incoming_samples():
    logits = torch.randn(3, 6, requires_grad=True)
    ACECriterion()(logits, torch.tensor([1, 4, 1])).backward()
    absent = [0, 2, 3, 5]
    assert torch.all(logits.grad[:, absent] == 0)
    assert torch.all(logits.grad[:, [1, 4]] != 0)


def test_masks():
    mask = present_units(torch.tensor([3, 0, 3]), 5)
    assert mask.tolist() == [True, False, False, True, False]
    restricted = restrict_logits(torch.ones(2, 5), mask)
    assert torch.isinf(restricted[:, [1, 2, 4]]).all() and (restricted[:, [0, 3]] == 1).all()


def test_as_a_template_criterion_new_classes_do_not_push_old_ones_down():
    """With ACE alone, training on the second experience's classes leaves the first
    experience's samples classified far better than with a plain cross-entropy."""
    benchmark = toy_benchmark(2)
    old_test = benchmark.test_stream[0]

    def old_accuracy(criterion):
        torch.manual_seed(0)
        model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(32,))
        strategy = SupervisedTemplate(
            model=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            criterion=criterion,
            train_mb_size=10,
            train_epochs=3,
        )
        strategy.train(benchmark.train_stream)
        return strategy.eval(old_test).metrics["accuracy"]

    plain, asymmetric = old_accuracy(torch.nn.CrossEntropyLoss()), old_accuracy(ACECriterion())
    assert plain <= 0.6 and asymmetric >= 0.9
