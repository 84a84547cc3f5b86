"""CWR* (Lomonaco & Maltoni, 2019; Maltoni & Lomonaco, 2019) for clhost."""

from clhost_cwr_star.plugin import CWRStarPlugin, consolidate
from clhost_cwr_star.strategy import CWRStar

__all__ = ["CWRStar", "CWRStarPlugin", "consolidate"]
