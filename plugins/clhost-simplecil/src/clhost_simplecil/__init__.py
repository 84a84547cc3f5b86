"""SimpleCIL (Zhou et al. 2023) for clhost: prototypes on a frozen pretrained backbone."""

from clhost_simplecil.model import PrototypeClassifier
from clhost_simplecil.strategy import SimpleCIL

__all__ = ["PrototypeClassifier", "SimpleCIL"]
