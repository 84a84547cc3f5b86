"""Cumulative as a strategy: the supervised template with a ``CumulativePlugin`` first."""

from clhost.templates import SupervisedTemplate
from clhost_cumulative.plugin import CumulativePlugin


class Cumulative(SupervisedTemplate, plugin=CumulativePlugin):
    """Train experience ``i`` on experiences ``0..i`` together; see ``CumulativePlugin``."""
