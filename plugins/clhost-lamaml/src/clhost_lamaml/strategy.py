"""LaMAML: the meta-learning template with the La-MAML plugin built in."""

from clhost.templates import SupervisedMetaLearningTemplate
from clhost_lamaml.plugin import LaMAMLPlugin


class LaMAML(SupervisedMetaLearningTemplate, plugin=LaMAMLPlugin):
    """Look-ahead MAML: the parameters are ``LaMAMLPlugin``'s, which documents them. Both
    seed entries (``lamaml``, ``lamaml-v2``) are this class. For the online setting,
    give ``LaMAMLPlugin`` to an ``OnlineMetaLearningTemplate``."""
