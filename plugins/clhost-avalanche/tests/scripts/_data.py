"""Generated tensor data shared by the test scripts: 6 Gaussian classes in 16 dims."""

import torch


def blobs(n_per_class=60, n_classes=6, dim=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_classes, dim, generator=generator) * 2.0
    x = torch.cat(
        [centers[c] + torch.randn(n_per_class, dim, generator=generator) for c in range(n_classes)]
    )
    y = torch.arange(n_classes).repeat_interleave(n_per_class)
    return x, y
