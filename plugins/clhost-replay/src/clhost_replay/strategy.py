"""Replay as a strategy: the supervised template with a ``ReplayPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_replay.plugin import ReplayPlugin


class Replay(SupervisedTemplate, plugin=ReplayPlugin):
    """Experience Replay: supervised training with every minibatch joined by samples of
    a memory. The parameters are ``ReplayPlugin``'s, which documents them."""
