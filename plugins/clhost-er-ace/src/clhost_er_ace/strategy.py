"""ER_ACE: a supervised strategy with the ER-ACE plugin built in."""

from clhost.templates import SupervisedTemplate
from clhost_er_ace.plugin import ERACEPlugin


class ER_ACE(SupervisedTemplate, plugin=ERACEPlugin):
    """Experience replay with the asymmetric cross-entropy: the parameters are
    ``ERACEPlugin``'s, which documents them. For the online setting, add ``ERACEPlugin``
    to an ``OnlineSupervisedTemplate`` instead."""
