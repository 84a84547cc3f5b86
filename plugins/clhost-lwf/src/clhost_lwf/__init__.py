"""Learning without Forgetting (Li & Hoiem, 2017): the plugin and the strategy."""

from clhost_lwf.lwf import LwF, LwFPlugin

__all__ = ["LwF", "LwFPlugin"]
