"""MER: the meta-learning template with the MER plugin built in."""

from clhost.templates import SupervisedMetaLearningTemplate
from clhost_mer.plugin import MERPlugin


class MER(SupervisedMetaLearningTemplate, plugin=MERPlugin):
    """Meta-Experience Replay: the parameters are ``MERPlugin``'s, which documents them.
    For the online setting, give ``MERPlugin`` to an ``OnlineMetaLearningTemplate``."""
