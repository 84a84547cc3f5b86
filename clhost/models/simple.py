"""Small reference models: MLPs for flat inputs."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from clhost.models.dynamic import IncrementalClassifier, MultiHeadClassifier, MultiTaskModule


def _mlp_body(input_size: int, hidden_sizes: Sequence[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    width = input_size
    for hidden in hidden_sizes:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = hidden
    return nn.Sequential(*layers)


class SimpleMLP(nn.Module):
    """Flatten, ``hidden_sizes`` ReLU layers, then a linear classifier.

    ``features`` and ``classifier`` are separate so methods can read the last hidden layer.
    """

    def __init__(
        self,
        num_classes: int = 10,
        input_size: int = 784,
        hidden_sizes: Sequence[int] = (512,),
        dropout: float = 0.0,
    ):
        super().__init__()
        self.features = _mlp_body(input_size, hidden_sizes, dropout)
        width = hidden_sizes[-1] if hidden_sizes else input_size
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class IncrementalMLP(nn.Module):
    """``SimpleMLP`` whose classifier grows with the classes of the stream."""

    def __init__(
        self,
        input_size: int = 784,
        hidden_sizes: Sequence[int] = (512,),
        initial_out_features: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.features = _mlp_body(input_size, hidden_sizes, dropout)
        width = hidden_sizes[-1] if hidden_sizes else input_size
        self.classifier = IncrementalClassifier(width, initial_out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class MultiHeadMLP(MultiTaskModule):
    """``SimpleMLP`` body shared by all tasks with one classifier head per task."""

    def __init__(
        self,
        input_size: int = 784,
        hidden_sizes: Sequence[int] = (512,),
        initial_out_features: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.features = _mlp_body(input_size, hidden_sizes, dropout)
        width = hidden_sizes[-1] if hidden_sizes else input_size
        self.classifier = MultiHeadClassifier(width, initial_out_features)

    def forward(self, x: Tensor, task_labels: Tensor) -> Tensor:
        return self.classifier(self.features(x), task_labels)
