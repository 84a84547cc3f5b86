"""The reduced ResNet-18 of Lopez-Paz & Ranzato (2017), "Gradient Episodic Memory for
Continual Learning": ResNet-18's layout with ``nf`` (20) base filters instead of 64.

Small enough for CPU experiments on CIFAR-sized images, and the common backbone of
continual-learning papers that followed GEM.
"""

from __future__ import annotations

from torch import Tensor, nn


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            _conv3x3(in_channels, out_channels, stride),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            _conv3x3(out_channels, out_channels),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        return (self.body(x) + self.shortcut(x)).relu()


class SlimResNet18(nn.Module):
    """Reduced ResNet-18: a 3x3 stem (no max pooling), four stages of two basic blocks with
    ``nf``, ``2nf``, ``4nf``, ``8nf`` filters (stride 1, 2, 2, 2), global average pooling
    and a linear classifier.

    Takes images ``(N, in_channels, H, W)``; 32x32 and 28x28 both end in 4x4 maps, as in
    the paper. ``features`` (to the pooled ``8nf`` vector) and ``classifier`` are separate
    so methods can read the embedding.
    """

    def __init__(self, num_classes: int = 10, nf: int = 20, in_channels: int = 3):
        super().__init__()
        for name, value in (("num_classes", num_classes), ("nf", nf), ("in_channels", in_channels)):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        self.in_channels = in_channels
        stages: list[nn.Module] = []
        width = nf
        for multiplier, stride in ((1, 1), (2, 2), (4, 2), (8, 2)):
            stages += [
                BasicBlock(width, nf * multiplier, stride),
                BasicBlock(nf * multiplier, nf * multiplier),
            ]
            width = nf * multiplier
        self.features = nn.Sequential(
            _conv3x3(in_channels, nf),
            nn.BatchNorm2d(nf),
            nn.ReLU(),
            *stages,
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SlimResNet18 expects images of shape (N, {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        return self.classifier(self.features(x))
