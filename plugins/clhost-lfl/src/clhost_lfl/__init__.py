"""Less-Forgetful Learning (Jung, Ju, Jung & Kim, 2016): the plugin and the strategy."""

from clhost_lfl.features import FeatureSite
from clhost_lfl.lfl import LFL, LFLPlugin

__all__ = ["LFL", "FeatureSite", "LFLPlugin"]
