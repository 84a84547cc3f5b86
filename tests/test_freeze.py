"""clhost.models.freeze and clhost.models.layers: frozen layers neither learn nor move
their batch-norm statistics, whatever model.train() says, and unfreezing restores
exactly what freezing changed; layers are found by name with one clear error."""

import copy

import pytest
import torch
from torch import nn

from clhost.errors import ParameterError
from clhost.models.freeze import freeze_below, freeze_except, freeze_modules, is_frozen, unfreeze
from clhost.models.layers import last_linear, named_layer


def _model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 8), nn.Linear(8, 3)
    )


def test_frozen_layers_keep_weights_and_statistics_through_training():
    model = _model()
    freeze_below(model, "3")
    model.train()  # what a template does at the start of train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.1)
    before = copy.deepcopy(model.state_dict())
    x = torch.randn(16, 4)
    first = model[:3](x)
    model(x).sum().backward()
    optimizer.step()
    after = model.state_dict()
    for name in ("0.weight", "1.weight", "1.running_mean", "1.running_var"):
        assert torch.equal(after[name], before[name]), name
    assert not torch.equal(after["3.weight"], before["3.weight"])
    assert torch.equal(model[:3](x), first)  # dropout and batch norm in eval mode
    assert [is_frozen(m) for m in model] == [True, True, True, False, False]


def test_unfreeze_restores_only_what_freezing_changed():
    model = _model()
    model[4].weight.requires_grad_(False)  # the user's own choice
    freeze_modules(model)
    freeze_modules(model)  # idempotent
    assert not any(p.requires_grad for p in model.parameters())
    unfreeze(model)
    assert [p.requires_grad for p in model[4].parameters()] == [False, True]
    assert all(p.requires_grad for p in model[0].parameters())
    model.train()
    assert model[1].training and not any(is_frozen(m) for m in model.modules())
    model[1](torch.randn(4, 8))
    assert model[1].training  # no hook pins it any more


def test_freeze_except_keeps_one_layer_learning():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2)))
    freeze_except(model, model[1][1])
    assert [p.requires_grad for p in model.parameters()] == [False] * 4 + [True] * 2
    model.train()
    model(torch.randn(3, 4))
    assert model.training and model[1].training  # containers of the kept layer
    assert not model[1][0].training and model[1][1].training
    copied = copy.deepcopy(model)  # frozen models copy and unfreeze like any other
    unfreeze(copied)
    assert all(p.requires_grad for p in copied.parameters())


def test_layers_are_found_by_name():
    model = _model()
    assert named_layer(model, "3") is model[3]
    assert last_linear(model) == ("4", model[4])
    with pytest.raises(ParameterError, match=r"no Linear layer named '1'; it has '0', '3', '4'"):
        named_layer(model, "1", nn.Linear)
    with pytest.raises(ParameterError, match="no Module layer named 'nine'"):
        freeze_below(model, "nine")
    with pytest.raises(ParameterError, match="Sequential has no nn.Linear"):
        last_linear(nn.Sequential(nn.ReLU()))
