"""ER_ACE: a supervised strategy with the ER-ACE plugin built in."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_er_ace.plugin import ERACEPlugin


class ER_ACE(SupervisedTemplate):
    """``SupervisedTemplate`` with ``ERACEPlugin(mem_size, batch_size_mem)`` first among
    its plugins. For the online setting, add ``ERACEPlugin`` to an
    ``OnlineSupervisedTemplate`` instead."""

    def __init__(self, *, mem_size: int = 200, batch_size_mem: int = 10, **kwargs: Any):
        plugin = ERACEPlugin(mem_size=mem_size, batch_size_mem=batch_size_mem)
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
