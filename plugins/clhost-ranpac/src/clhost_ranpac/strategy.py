"""RanPAC: ridge regression on randomly projected frozen features, in closed form, after
a first-session adaptation of the backbone."""

from __future__ import annotations

from clhost_pretrained import FrozenFeatureTemplate
from clhost_ranpac.model import RandomProjectionRidge

FIRST_SESSION_EPOCHS = 20  # the authors' published runs (their args/*_publish.csv)


class RanPAC(
    FrozenFeatureTemplate,
    classifier=RandomProjectionRidge,
    defaults={"adapt_epochs": FIRST_SESSION_EPOCHS},
):
    """RanPAC (McDonnell, Gong, Parvaneh, Abbasnejad and van den Hengel, NeurIPS 2023).

    Phase 1 (``adapt_epochs``, 20 by default; 0 skips it): on the first experience only,
    SSF scales and shifts on the backbone are trained with a linear head by
    cross-entropy (``adapt_lr``), then frozen for good. Phase 2: the backbone's features,
    projected by a fixed random matrix to ``projection_size`` dimensions through a ReLU,
    and a ridge-regression classifier (penalty ``ridge``) solved in closed form from the
    Gram matrix and the feature-target products, updated with each minibatch; no sample
    is kept. ``seed`` draws the projection. Phase 1 is on by default because the paper's
    main results (its Algorithm 1) use it. The other parameters are
    ``FrozenFeatureTemplate``'s (the backbone, ``resize_inputs``, ``bf16``,
    ``channels_last``) and the template's."""
