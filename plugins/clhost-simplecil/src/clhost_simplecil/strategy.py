"""SimpleCIL: the frozen backbone's class prototypes, fitted without training."""

from __future__ import annotations

from clhost_pretrained import FrozenFeatureTemplate
from clhost_simplecil.model import PrototypeClassifier


class SimpleCIL(FrozenFeatureTemplate, classifier=PrototypeClassifier):
    """SimpleCIL (Zhou, Cai, Ye, Zhan and Liu, 2023): a pretrained backbone, frozen, and a
    cosine classifier whose weights are the class prototypes, each class's mean feature;
    nothing is trained. The parameters are ``FrozenFeatureTemplate``'s: the backbone
    (``model``, or ``model_name`` with ``pretrained_path``), ``bf16``, ``channels_last``
    and the template's keywords; one epoch per experience is all it needs."""
