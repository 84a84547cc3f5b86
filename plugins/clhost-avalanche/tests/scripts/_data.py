"""Generated tensor data shared by the test scripts: 6 Gaussian classes in 16 dims.

The class centres are fixed; ``seed`` draws the samples, so a training and a test set
(two seeds) come from the same distribution.
"""

import torch


def blobs(n_per_class=60, n_classes=6, dim=16, seed=0):
    centers = torch.randn(n_classes, dim, generator=torch.Generator().manual_seed(1234)) * 1.5
    generator = torch.Generator().manual_seed(seed)
    x = torch.cat(
        [centers[c] + torch.randn(n_per_class, dim, generator=generator) for c in range(n_classes)]
    )
    y = torch.arange(n_classes).repeat_interleave(n_per_class)
    return x, y
