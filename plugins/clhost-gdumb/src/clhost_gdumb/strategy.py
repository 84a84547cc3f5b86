"""The GDumb strategy: a supervised template with the GDumb plugin."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_gdumb.plugin import GDumbPlugin


class GDumb(SupervisedTemplate):
    """GDumb (Prabhu et al. 2020) with a memory of ``mem_size`` samples."""

    def __init__(self, *, mem_size: int = 200, **kwargs: Any):
        plugin = GDumbPlugin(mem_size=mem_size)
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
