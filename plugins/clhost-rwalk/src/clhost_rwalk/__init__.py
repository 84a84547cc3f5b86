"""RWalk (Chaudhry, Dokania, Ajanthan & Torr, ECCV 2018) for clhost."""

from clhost_rwalk.plugin import RWalkPlugin
from clhost_rwalk.strategy import RWalk

__all__ = ["RWalk", "RWalkPlugin"]
