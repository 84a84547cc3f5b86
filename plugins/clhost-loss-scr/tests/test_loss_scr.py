"""SCRLoss: hand-checked values, the view layouts SCR uses, invariances, its bounds, and a
gradient step that pulls classes together."""

import math

import pytest
import torch
from torch.nn import functional as F

from clhost.errors import ParameterError
from clhost_loss_scr import SCRLoss

# Four unit vectors in the plane, classes 0, 0, 1, 1.
Z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0], [0.6, -0.8]])
Y = torch.tensor([0, 0, 1, 1])


def _anchor_term(positive: float, others: list[float], temperature: float) -> float:
    """-log(exp(s_p/T) / sum over every other sample of exp(s_a/T)), one positive."""
    denominator = sum(math.exp(s / temperature) for s in [positive, *others])
    return -math.log(math.exp(positive / temperature) / denominator)


def test_value_by_hand_on_four_vectors():
    # Dot products: z1.z2=0.6 z1.z3=-1 z1.z4=0.6 z2.z3=-0.6 z2.z4=-0.28 z3.z4=-0.6
    t = 0.5
    terms = [
        _anchor_term(0.6, [-1.0, 0.6], t),  # anchor 1, positive 2
        _anchor_term(0.6, [-0.6, -0.28], t),  # anchor 2, positive 1
        _anchor_term(-0.6, [-1.0, -0.6], t),  # anchor 3, positive 4
        _anchor_term(-0.6, [0.6, -0.28], t),  # anchor 4, positive 3
    ]
    expected = (0.5 / 0.25) * sum(terms) / 4
    loss = SCRLoss(temperature=0.5, base_temperature=0.25)(Z, Y)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_symmetric_square_matches_closed_form():
    # Four directions 90 degrees apart, each anchor: one positive at 0, negatives 0 and -1.
    square = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    loss = SCRLoss(temperature=1.0, base_temperature=1.0)(square, Y)
    assert loss.item() == pytest.approx(math.log(2 + math.exp(-1)), rel=1e-6)


def test_two_views_equal_the_flattened_batch_in_all_mode():
    torch.manual_seed(0)
    views = F.normalize(torch.randn(5, 2, 8), dim=2)
    labels = torch.tensor([0, 1, 0, 2, 1])
    loss = SCRLoss()
    flat = torch.cat((views[:, 0], views[:, 1]))
    assert loss(views, labels).item() == pytest.approx(
        loss(flat, labels.repeat(2)).item(), rel=1e-6
    )


def test_one_mode_uses_only_the_first_views_as_anchors():
    # Two samples of different classes, two views each: each first view has one positive.
    views = torch.stack((Z[[0, 2]], Z[[1, 3]]), dim=1)  # sample a: z1, z2; sample b: z3, z4
    labels = torch.tensor([0, 1])
    t = 0.5
    anchor_a = _anchor_term(0.6, [-1.0, 0.6], t)  # z1 against z3 (view 1) and z2, z4 (view 2)
    anchor_b = _anchor_term(-0.6, [-1.0, -0.6], t)  # z3 against z1 and z2, positive z4
    loss = SCRLoss(temperature=t, contrast_mode="one", base_temperature=t)(views, labels)
    assert loss.item() == pytest.approx((anchor_a + anchor_b) / 2, rel=1e-6)


def test_without_labels_only_the_other_views_are_positives():
    views = torch.stack((Z[[0, 2]], Z[[1, 3]]), dim=1)
    same_class = SCRLoss()(views, torch.tensor([0, 0]))
    unlabelled = SCRLoss()(views)
    assert unlabelled.item() == pytest.approx(SCRLoss()(views, torch.tensor([0, 1])).item())
    assert unlabelled.item() != pytest.approx(same_class.item())


def test_invariant_to_order_class_names_and_rotation():
    torch.manual_seed(1)
    features = F.normalize(torch.randn(12, 6), dim=1)
    labels = torch.randint(0, 3, (12,))
    loss = SCRLoss()
    reference = loss(features, labels).item()
    order = torch.randperm(12)
    assert loss(features[order], labels[order]).item() == pytest.approx(reference, rel=1e-5)
    assert loss(features, (labels + 1) % 3 * 7).item() == pytest.approx(reference, rel=1e-5)
    rotation, _ = torch.linalg.qr(torch.randn(6, 6))
    assert loss(features @ rotation, labels).item() == pytest.approx(reference, rel=1e-5)


def test_base_temperature_only_scales_the_loss():
    a = SCRLoss(temperature=0.1, base_temperature=0.07)(Z, Y)
    b = SCRLoss(temperature=0.1, base_temperature=0.14)(Z, Y)
    assert a.item() == pytest.approx(2 * b.item(), rel=1e-6)


def test_tends_to_zero_for_separated_views_at_low_temperature():
    # Each sample's two views coincide and the two samples are antipodal: one positive per
    # anchor, so the loss tends to log(1) = 0 as the temperature goes to zero.
    views = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[-1.0, 0.0], [-1.0, 0.0]]])
    cold = SCRLoss(temperature=0.01, base_temperature=0.01)(views)
    warm = SCRLoss(temperature=1.0, base_temperature=1.0)(views)
    assert 0 <= cold.item() < 1e-6
    assert warm.item() == pytest.approx(math.log(1 + 2 * math.exp(-2)), rel=1e-6)


def test_bounded_below_by_the_log_of_the_number_of_positives():
    # Each class collapsed to one point, the two points antipodal: every anchor has 3
    # positives at similarity 1, so the loss is at least log(3) and reaches it as T -> 0.
    features = torch.tensor([[1.0, 0.0]] * 4 + [[-1.0, 0.0]] * 4)
    labels = torch.tensor([0] * 4 + [1] * 4)
    cold = SCRLoss(temperature=0.01, base_temperature=0.01)(features, labels)
    assert cold.item() == pytest.approx(math.log(3), rel=1e-5)
    torch.manual_seed(2)
    random = F.normalize(torch.randn(8, 3), dim=1)
    assert SCRLoss(base_temperature=0.1)(random, labels).item() > math.log(3)


def test_anchors_without_positives_are_left_out():
    single = SCRLoss()(Z[:3], torch.tensor([0, 0, 1]))  # the class-1 anchor has no positive
    pair = SCRLoss()(Z[:2], torch.tensor([0, 0]))
    assert torch.isfinite(single)
    lonely = SCRLoss()(Z[:2], torch.tensor([0, 1]))
    assert lonely.item() == 0.0 and lonely.requires_grad is False
    features = Z[:2].clone().requires_grad_(True)
    SCRLoss()(features, torch.tensor([0, 1])).backward()
    assert torch.equal(features.grad, torch.zeros_like(features))
    assert pair.item() == pytest.approx(0.0, abs=1e-6)  # only each other: log(1)


def test_a_gradient_step_pulls_each_class_together():
    torch.manual_seed(3)
    raw = torch.randn(16, 4, requires_grad=True)
    labels = torch.arange(4).repeat(4)

    def within_class_cosine(x):
        z = F.normalize(x, dim=1)
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        same.fill_diagonal_(False)
        return (z @ z.T)[same].mean().item()

    before = within_class_cosine(raw.detach())
    optimizer = torch.optim.SGD([raw], lr=0.5)
    for _ in range(20):
        optimizer.zero_grad()
        SCRLoss()(F.normalize(raw, dim=1), labels).backward()
        optimizer.step()
    assert within_class_cosine(raw.detach()) > before + 0.3


def test_bad_parameters_and_shapes_are_refused():
    with pytest.raises(ParameterError, match="temperature"):
        SCRLoss(temperature=0)
    with pytest.raises(ParameterError, match="base_temperature"):
        SCRLoss(base_temperature=-1.0)
    with pytest.raises(ParameterError, match="contrast_mode"):
        SCRLoss(contrast_mode="any")
    with pytest.raises(ValueError, match="labels"):
        SCRLoss()(Z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="features"):
        SCRLoss()(torch.zeros(2, 2, 2, 2), torch.tensor([0, 1]))
