"""Models: clhost's, built from Avalanche's constructor arguments."""

from __future__ import annotations

import torch

from clhost.data import Experience
from clhost.models import adapt_model
from clhost_avalanche.models import IncrementalClassifier, SimpleCNN, SimpleMLP, SlimResNet18


def test_simple_mlp_takes_avalanches_sizes():
    model = SimpleMLP(num_classes=3, input_size=10, hidden_size=7, hidden_layers=2, drop_rate=0.2)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    dropouts = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10, 7), (7, 7), (7, 3)]
    assert dropouts == [0.2, 0.2]


def test_image_models_take_avalanches_arguments():
    images = torch.randn(2, 3, 32, 32)
    assert SimpleCNN(num_classes=5)(images).shape == (2, 5)
    assert SlimResNet18(nclasses=4, nf=4)(images).shape == (2, 4)


def test_incremental_classifier_masks_classes_not_trained_yet():
    head = IncrementalClassifier(4, initial_out_features=2)
    adapt_model(head.train(), Experience(None, 0, classes_in_this_experience=(0, 1)))
    adapt_model(head.eval(), Experience(None, 1, classes_in_this_experience=(2, 3)))
    out = head(torch.randn(5, 4))
    assert out.shape == (5, 4)
    assert (out[:, 2:] == -1000).all() and (out[:, :2] != -1000).all()
    unmasked = IncrementalClassifier(4, masking=False)
    assert (unmasked(torch.randn(5, 4)) != -1000).all()
