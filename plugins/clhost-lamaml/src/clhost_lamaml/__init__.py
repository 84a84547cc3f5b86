"""La-MAML (Gupta et al., 2020): look-ahead MAML with learnable per-parameter learning rates."""

from clhost_lamaml.plugin import LaMAMLPlugin
from clhost_lamaml.strategy import LaMAML

__all__ = ["LaMAML", "LaMAMLPlugin"]
