"""A fully connected VAE that works for inputs of any shape (flattened inside)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class VAE(nn.Module):
    """Gaussian encoder, decoder back to ``input_shape``; ``generate(n)`` samples the prior.

    With ``bounded_inputs`` (data in [0, 1]) the decoder ends in a sigmoid and the
    reconstruction loss is binary cross-entropy; otherwise it is linear with squared error.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int = 32,
        hidden_sizes: Sequence[int] = (256,),
        bounded_inputs: bool = True,
    ):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.latent_dim, self.bounded_inputs = latent_dim, bounded_inputs
        width = math.prod(self.input_shape)
        encoder: list[nn.Module] = [nn.Flatten()]
        decoder: list[nn.Module] = []
        previous = width
        for hidden in hidden_sizes:
            encoder += [nn.Linear(previous, hidden), nn.ReLU()]
            previous = hidden
        self.encoder = nn.Sequential(*encoder)
        self.to_mean = nn.Linear(previous, latent_dim)
        self.to_log_var = nn.Linear(previous, latent_dim)
        previous = latent_dim
        for hidden in reversed(hidden_sizes):
            decoder += [nn.Linear(previous, hidden), nn.ReLU()]
            previous = hidden
        decoder.append(nn.Linear(previous, width))
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.encoder(x)
        return self.to_mean(hidden), self.to_log_var(hidden)

    def decode(self, z: Tensor) -> Tensor:
        out = self.decoder(z)
        if self.bounded_inputs:
            out = torch.sigmoid(out)
        return out.view(len(z), *self.input_shape)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mean, log_var = self.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var) if self.training else mean
        return self.decode(z), mean, log_var

    @torch.no_grad()
    def generate(self, n: int) -> Tensor:
        device = self.to_mean.weight.device
        return self.decode(torch.randn(n, self.latent_dim, device=device))

    def loss(self, output: tuple[Tensor, Tensor, Tensor], x: Tensor) -> Tensor:
        """Negative ELBO per sample: reconstruction plus KL to the standard normal prior."""
        reconstruction, mean, log_var = output
        flat_rec, flat_x = reconstruction.flatten(1), x.flatten(1)
        if self.bounded_inputs:
            rec = F.binary_cross_entropy(flat_rec, flat_x, reduction="sum")
        else:
            rec = F.mse_loss(flat_rec, flat_x, reduction="sum")
        kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
        return (rec + kl) / len(x)
