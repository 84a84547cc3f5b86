"""Avalanche's small CNN for 3-channel images (its architecture, clhost's code)."""

from __future__ import annotations

from torch import Tensor, nn

from clhost.models import MultiHeadClassifier, MultiTaskModule


def _features() -> nn.Sequential:
    """Two conv blocks (32 and 64 filters, max-pooled, dropout 0.25), a 1x1 conv and
    global max pooling to 64 features."""
    return nn.Sequential(
        nn.Conv2d(3, 32, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, kernel_size=3),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Dropout(p=0.25),
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(64, 64, kernel_size=3),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Dropout(p=0.25),
        nn.Conv2d(64, 64, kernel_size=1),
        nn.ReLU(inplace=True),
        nn.AdaptiveMaxPool2d(1),
        nn.Dropout(p=0.25),
        nn.Flatten(),
    )


class SimpleCNN(nn.Module):
    """``features`` to 64 values, then a linear classifier to ``num_classes``."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = _features()
        self.classifier = nn.Sequential(nn.Linear(64, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class MTSimpleCNN(MultiTaskModule):
    """``SimpleCNN``'s features with one head per task."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _features()
        self.classifier = MultiHeadClassifier(64)

    def forward(self, x: Tensor, task_labels: Tensor) -> Tensor:
        return self.classifier(self.features(x), task_labels)
