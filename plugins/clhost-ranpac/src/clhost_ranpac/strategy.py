"""RanPAC: ridge regression on randomly projected frozen features, in closed form."""

from __future__ import annotations

from clhost_pretrained import FrozenFeatureTemplate
from clhost_ranpac.model import RandomProjectionRidge


class RanPAC(FrozenFeatureTemplate, classifier=RandomProjectionRidge):
    """RanPAC (McDonnell, Gong, Parvaneh, Abbasnejad and van den Hengel, NeurIPS 2023):
    the frozen backbone's features, projected by a fixed random matrix to
    ``projection_size`` dimensions through a ReLU, and a ridge-regression classifier
    (penalty ``ridge``) solved in closed form from the Gram matrix and the
    feature-target products, updated with each minibatch; no sample is kept, nothing is
    trained by gradient. ``seed`` draws the projection. The other parameters are
    ``FrozenFeatureTemplate``'s (the backbone, ``bf16``, ``channels_last``) and the
    template's."""
