"""Avalanche's MLPs and slim ResNet-18 as clhost's, under Avalanche's argument names."""

from __future__ import annotations

from clhost.models import MultiHeadMLP
from clhost.models import SimpleMLP as _SimpleMLP
from clhost.models import SlimResNet18 as _SlimResNet18


class SimpleMLP(_SimpleMLP):
    """``hidden_layers`` hidden layers of ``hidden_size`` units (ReLU, dropout
    ``drop_rate``) and a linear classifier: clhost's ``SimpleMLP``."""

    def __init__(
        self,
        num_classes: int = 10,
        input_size: int = 28 * 28,
        hidden_size: int = 512,
        hidden_layers: int = 1,
        drop_rate: float = 0.5,
    ):
        super().__init__(num_classes, input_size, (hidden_size,) * hidden_layers, drop_rate)


class MTSimpleMLP(MultiHeadMLP):
    """One hidden layer (dropout 0.5) and one head per task: clhost's ``MultiHeadMLP``."""

    def __init__(self, input_size: int = 28 * 28, hidden_size: int = 512):
        super().__init__(input_size, (hidden_size,), initial_out_features=2, dropout=0.5)


class SlimResNet18(_SlimResNet18):
    """Reduced ResNet-18 for 3-channel images: clhost's ``SlimResNet18``."""

    def __init__(self, nclasses: int, nf: int = 20):
        super().__init__(num_classes=nclasses, nf=nf, in_channels=3)
