"""RWalk as a strategy: the supervised template with an ``RWalkPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_rwalk.plugin import RWalkPlugin


class RWalk(SupervisedTemplate, plugin=RWalkPlugin):
    """Riemannian Walk (Chaudhry et al., 2018): supervised training with a pull towards
    earlier parameters weighted by an online Fisher plus path scores. The parameters are
    ``RWalkPlugin``'s, which documents them."""
