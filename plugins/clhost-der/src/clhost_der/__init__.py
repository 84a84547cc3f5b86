"""Dark Experience Replay (Buzzega et al., NeurIPS 2020) for clhost."""

from clhost_der.plugin import DERPlugin
from clhost_der.strategy import DER

__all__ = ["DER", "DERPlugin"]
