"""GDumb (Prabhu, Torr & Dokania, ECCV 2020) for clhost."""

from clhost_gdumb.buffer import GreedyClassBalancedBuffer
from clhost_gdumb.plugin import GDumbPlugin
from clhost_gdumb.strategy import GDumb

__all__ = ["GDumb", "GDumbPlugin", "GreedyClassBalancedBuffer"]
