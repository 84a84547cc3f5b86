"""MER (Riemer et al., 2019): meta-experience replay, Reptile steps over a reservoir memory."""

from clhost_mer.plugin import MERPlugin
from clhost_mer.strategy import MER

__all__ = ["MER", "MERPlugin"]
