"""RAR as a strategy: the supervised template with a ``RARPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_rar.plugin import RARPlugin


class RAR(SupervisedTemplate, plugin=RARPlugin):
    """Retrospective Adversarial Replay: supervised training replaying stored samples and
    their adversarial copies. The parameters are ``RARPlugin``'s, which documents them."""
