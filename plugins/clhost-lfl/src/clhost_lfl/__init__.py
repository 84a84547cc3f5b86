"""Less-Forgetful Learning (Jung, Ju, Jung & Kim, 2016): the plugin and the strategy."""

from clhost_lfl.features import FeatureSite
from clhost_lfl.plugin import LFLPlugin
from clhost_lfl.strategy import LFL

__all__ = ["LFL", "FeatureSite", "LFLPlugin"]
