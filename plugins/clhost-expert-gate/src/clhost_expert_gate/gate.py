"""The gate's learning: an autoencoder fitted to one task's features, and task
relatedness measured by how well the earlier autoencoders reconstruct the new task."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from clhost_expert_gate.model import GateAutoencoder

# the paper's SGD for the autoencoders (Avalanche's too)
MOMENTUM, WEIGHT_DECAY = 0.9, 5e-4


def train_autoencoder(
    autoencoder: GateAutoencoder, codes: Tensor, epochs: int, batch_size: int, lr: float
) -> None:
    """Fit ``autoencoder`` to reconstruct ``codes``, minibatches drawn in a fresh random
    order each epoch. The loss is the minibatch's summed squared error (Avalanche's
    ``AE_loss``), not its mean: ``lr`` is a step per sample, as in Avalanche."""
    optimizer = torch.optim.SGD(
        autoencoder.parameters(), lr=lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY
    )
    was_training = autoencoder.training
    autoencoder.train()
    for _ in range(epochs):
        order = torch.randperm(len(codes)).to(codes.device)
        for start in range(0, len(codes), batch_size):
            batch = codes[order[start : start + batch_size]]
            optimizer.zero_grad()
            autoencoder.errors(batch).sum().backward()
            optimizer.step()
    autoencoder.train(was_training)


def relatedness(own_error: float, other_error: float) -> float:
    """The paper's task relatedness: ``1 - (Er_a - Er_k) / Er_k``, where ``Er_k`` is the
    new task's reconstruction error under its own autoencoder and ``Er_a`` under the
    earlier task's: 1 when the earlier one reconstructs the new data as well, lower as it
    does worse."""
    return 1.0 - (other_error - own_error) / own_error


@torch.no_grad()
def most_related(autoencoders: Sequence[GateAutoencoder], codes: Tensor) -> tuple[int, float]:
    """The earlier task most related to the new one (whose autoencoder is the last of
    ``autoencoders``, ``codes`` its data's), and its relatedness."""
    *earlier, own = (float(ae.errors(codes).mean()) for ae in autoencoders)
    scores = [relatedness(own, error) for error in earlier]
    best = max(range(len(scores)), key=scores.__getitem__)
    return best, scores[best]
