"""clhost.models.batch_renorm: batch renormalization computes Ioffe (2017)'s formulas,
relaxes r_max/d_max on its schedule, starts as batch norm, and replaces batch norm in a
model keeping its parameters and statistics."""

import torch
from torch import nn

from clhost.models.batch_renorm import BatchRenorm, replace_batch_norm, set_renorm


def test_training_and_evaluation_follow_the_papers_formulas():
    torch.manual_seed(0)
    layer = BatchRenorm(2, eps=1e-3, momentum=0.1, r_max=1.5, d_max=0.3, r_d_max_inc_step=0.2)
    layer.max_r_max, layer.max_d_max = 1.6, 2.0
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([2.0, 0.5]))
        layer.bias.copy_(torch.tensor([1.0, -1.0]))
        layer.running_mean.copy_(torch.tensor([0.5, -2.0]))
        layer.running_std.copy_(torch.tensor([4.0, 0.5]))
    x = torch.randn(5, 2, 3) * torch.tensor([1.0, 3.0]).view(1, 2, 1)
    mean_b = x.mean(dim=(0, 2))
    std_b = (((x - mean_b.view(1, 2, 1)) ** 2).mean(dim=(0, 2)) + 1e-3).sqrt()
    r = (std_b / torch.tensor([4.0, 0.5])).clamp(1 / 1.5, 1.5)
    d = ((mean_b - torch.tensor([0.5, -2.0])) / torch.tensor([4.0, 0.5])).clamp(-0.3, 0.3)
    assert r[0] == 1 / 1.5 and r[1] == 1.5 and d.abs().max() == 0.3  # both clipped
    view = lambda t: t.view(1, 2, 1)  # noqa: E731
    expected = view(torch.tensor([2.0, 0.5])) * (
        (x - view(mean_b)) / view(std_b) * view(r) + view(d)
    ) + view(torch.tensor([1.0, -1.0]))
    assert torch.allclose(layer(x), expected, atol=1e-6)
    assert torch.allclose(
        layer.running_mean, torch.tensor([0.5, -2.0]) + 0.1 * (mean_b - torch.tensor([0.5, -2.0]))
    )
    assert torch.allclose(
        layer.running_std, torch.tensor([4.0, 0.5]) + 0.1 * (std_b - torch.tensor([4.0, 0.5]))
    )
    assert torch.isclose(layer.r_max, torch.tensor(1.6)) and torch.isclose(
        layer.d_max, torch.tensor(0.5)
    )
    layer.eval()
    mean, std = layer.running_mean.clone(), layer.running_std.clone()
    expected = view(layer.weight) * (x - view(mean)) / view(std) + view(layer.bias)
    assert torch.allclose(layer(x), expected)
    assert torch.equal(layer.running_mean, mean)  # evaluation changes nothing


def test_it_starts_as_batch_norm_with_the_same_gradients():
    torch.manual_seed(1)
    norm, renorm = nn.BatchNorm2d(3), BatchRenorm(3)
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    norm(x).square().sum().backward()
    gradient = x.grad.clone()
    x.grad = None
    output = renorm(x)
    output.square().sum().backward()
    assert torch.allclose(output, norm(x), atol=1e-5)
    assert torch.allclose(x.grad, gradient, atol=1e-4)  # r and d carry no gradient


def test_batch_norm_is_replaced_with_its_parameters_and_statistics():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Sequential(nn.BatchNorm2d(3)))
    model.train()
    model(torch.randn(8, 1, 6, 6))
    model.eval()
    x = torch.randn(2, 1, 6, 6)
    before = model(x)
    assert replace_batch_norm(model, momentum=0.05) == 2
    assert isinstance(model[1], BatchRenorm) and isinstance(model[2][0], BatchRenorm)
    assert model[1].momentum == 0.05
    assert torch.allclose(model(x), before, atol=1e-5)
    set_renorm(model, r_max=1.25, d_max=0.5, r_d_max_inc_step=0.0)
    assert float(model[2][0].r_max) == 1.25 and model[2][0].r_d_max_inc_step == 0.0
    assert {"running_mean", "running_std", "r_max", "d_max"} <= {
        key.split(".")[-1] for key in model.state_dict()
    }
