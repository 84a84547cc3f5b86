"""BiC (Wu et al., CVPR 2019, "Large Scale Incremental Learning"): replay with
distillation, then a two-parameter correction of the new classes' scores."""

from clhost_bic.bias import BiasLayer
from clhost_bic.plugin import BiCPlugin
from clhost_bic.strategy import BiC

__all__ = ["BiC", "BiCPlugin", "BiasLayer"]
