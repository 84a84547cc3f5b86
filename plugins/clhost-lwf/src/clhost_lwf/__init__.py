"""Learning without Forgetting (Li & Hoiem, 2017): the plugin and the strategy."""

from clhost_lwf.plugin import LwFPlugin
from clhost_lwf.strategy import LwF

__all__ = ["LwF", "LwFPlugin"]
