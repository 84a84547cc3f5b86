"""GSS_greedy as a strategy: the supervised template with a ``GSS_greedyPlugin`` first."""

from clhost.templates import SupervisedTemplate
from clhost_gss.plugin import GSS_greedyPlugin


class GSS_greedy(SupervisedTemplate, plugin=GSS_greedyPlugin):
    """GSS-greedy: supervised training replaying a gradient-diverse memory. The parameters
    are ``GSS_greedyPlugin``'s, which documents them. For the online setting, add
    ``GSS_greedyPlugin`` to an ``OnlineSupervisedTemplate`` instead."""
