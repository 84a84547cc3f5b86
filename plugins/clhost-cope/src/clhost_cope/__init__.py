"""Continual Prototype Evolution (De Lange & Tuytelaars, ICCV 2021) for clhost."""

from clhost_cope.loss import PPPLoss
from clhost_cope.plugin import CoPEPlugin
from clhost_cope.prototypes import ClassPrototypes
from clhost_cope.strategy import CoPE

__all__ = ["ClassPrototypes", "CoPE", "CoPEPlugin", "PPPLoss"]
