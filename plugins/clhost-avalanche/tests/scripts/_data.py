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


def patch_bic_scheduler():
    """Real Avalanche 0.6.0's BiC passes ``verbose`` to ``MultiStepLR``, which this torch
    no longer takes: drop it there (as an Avalanche user on this torch must). The layer's
    BiC is clhost's, so under it there is nothing to patch."""
    try:
        import avalanche.training.plugins.bic as bic
    except ImportError:
        return

    class MultiStepLR(torch.optim.lr_scheduler.MultiStepLR):
        def __init__(self, *args, verbose=None, **kwargs):
            super().__init__(*args, **kwargs)

    bic.MultiStepLR = MultiStepLR
