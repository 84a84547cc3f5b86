"""clhost.models.latent: a sequential model cut at a named layer computes what the whole
did, stored activations join the batch at the cut, and wrong names get one clear error."""

import pytest
import torch
from torch import nn

from clhost.errors import ParameterError
from clhost.models.latent import LatentReplayModel, flat_layers, split_sequential


def _model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 6),
        nn.Sequential(nn.ReLU(), nn.Linear(6, 5), nn.Tanh()),
        nn.Linear(5, 3),
    )


def test_layers_are_listed_and_the_model_cut_anywhere_computes_the_same():
    model = _model()
    names = [name for name, _ in flat_layers(model)]
    assert names == ["0", "1.0", "1.1", "1.2", "2"]
    x = torch.randn(7, 4)
    for name in names:
        lower, upper = split_sequential(model, name)
        assert torch.allclose(upper(lower(x)), model(x))
    lower, upper = split_sequential(model, "1.1")
    assert lower[1][1] is model[1][1] and upper[0][0] is model[1][2]
    assert "1.1.weight" in lower.state_dict() and "2.weight" in upper.state_dict()


def test_replayed_activations_join_at_the_cut():
    model = LatentReplayModel.from_sequential(_model(), "1.1")
    x, stored = torch.randn(3, 4), torch.randn(2, 5)
    plain = model(x)
    assert model.latent.shape == (3, 5) and not model.latent.requires_grad
    model.replayed = stored
    output = model(x)
    assert output.shape == (5, 3)
    assert torch.allclose(output[:3], plain)
    assert torch.allclose(output[3:], model.upper(stored))  # only the layers above
    for param in model.lower.parameters():
        param.requires_grad_(False)
    output.detach_()
    model(x).sum().backward()  # no graph through the frozen lower part
    assert all(p.grad is not None for p in model.upper.parameters())


def test_bad_names_are_refused():
    with pytest.raises(ParameterError, match="no layer '7' among 0, 1, 2"):
        split_sequential(_model(), "7")
    model = nn.Sequential(nn.Linear(2, 2), nn.LSTM(2, 2))
    with pytest.raises(ParameterError, match=r"only inside nn.Sequential"):
        split_sequential(model, "1.weight_ih_l0")
