"""MIR: a supervised strategy with the MIR plugin built in."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_mir.plugin import Memory, MIRPlugin


class MIR(SupervisedTemplate):
    """``SupervisedTemplate`` with ``MIRPlugin(batch_size_mem, mem_size, subsample, memory)``
    first among its plugins. For the online setting, add ``MIRPlugin`` to an
    ``OnlineSupervisedTemplate`` instead."""

    def __init__(
        self,
        *,
        batch_size_mem: int = 10,
        mem_size: int = 200,
        subsample: int = 50,
        memory: Memory = "reservoir",
        **kwargs: Any,
    ):
        plugin = MIRPlugin(
            batch_size_mem=batch_size_mem, mem_size=mem_size, subsample=subsample, memory=memory
        )
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
