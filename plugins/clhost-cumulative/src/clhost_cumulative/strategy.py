"""Cumulative as a strategy: the supervised template with a ``CumulativePlugin`` first."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_cumulative.plugin import CumulativePlugin


class Cumulative(SupervisedTemplate):
    """Train experience ``i`` on experiences ``0..i`` together; see ``CumulativePlugin``."""

    def __init__(self, **kwargs: Any):
        plugins = [CumulativePlugin(), *kwargs.pop("plugins", ())]
        super().__init__(plugins=plugins, **kwargs)
