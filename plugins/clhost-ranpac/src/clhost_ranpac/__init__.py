"""RanPAC (McDonnell et al., NeurIPS 2023) for clhost: random projection and ridge regression
on a frozen pretrained backbone."""

from clhost_ranpac.model import RandomProjectionRidge
from clhost_ranpac.strategy import RanPAC

__all__ = ["RanPAC", "RandomProjectionRidge"]
