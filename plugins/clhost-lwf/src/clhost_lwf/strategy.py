"""LwF as a strategy: the supervised template with an ``LwFPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_lwf.plugin import LwFPlugin


class LwF(SupervisedTemplate, plugin=LwFPlugin):
    """Learning without Forgetting (Li & Hoiem, 2017): supervised training with the outputs
    of earlier classes distilled towards the previous model's. The parameters are
    ``LwFPlugin``'s, which documents them."""
