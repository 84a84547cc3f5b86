"""EWC as a strategy: the supervised template with an ``EWCPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_ewc.plugin import EWCPlugin


class EWC(SupervisedTemplate, plugin=EWCPlugin):
    """Elastic Weight Consolidation (Kirkpatrick et al., 2017): supervised training with a
    Fisher-weighted pull towards the parameters earlier experiences ended at. The
    parameters are ``EWCPlugin``'s, which documents them."""
