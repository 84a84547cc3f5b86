"""iCaRL (Rebuffi et al., CVPR 2017): herding exemplars, distillation and
nearest-mean-of-exemplars classification."""

from clhost_icarl.memory import ICaRLMemory, NormalizedHerding
from clhost_icarl.model import FeatureClassifier
from clhost_icarl.plugin import ICaRLPlugin
from clhost_icarl.strategy import ICaRL

__all__ = ["ICaRL", "FeatureClassifier", "ICaRLMemory", "ICaRLPlugin", "NormalizedHerding"]
