"""ER-ACE (Caccia et al., 2022): experience replay with the asymmetric cross-entropy."""

from clhost_er_ace.plugin import ERACEPlugin
from clhost_er_ace.strategy import ER_ACE

__all__ = ["ER_ACE", "ERACEPlugin"]
