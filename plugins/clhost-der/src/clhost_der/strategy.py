"""The DER strategy: a supervised template with the DER plugin."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_der.plugin import DERPlugin, MemoryUpdate


class DER(SupervisedTemplate):
    """DER (``beta=0``) or DER++ (``beta>0``, the default): ``SupervisedTemplate`` with
    ``DERPlugin`` first among its plugins; ``memory_update`` as in ``DERPlugin``."""

    def __init__(
        self,
        *,
        mem_size: int = 200,
        batch_size_mem: int | None = None,
        alpha: float = 0.1,
        beta: float = 0.5,
        memory_update: MemoryUpdate = "minibatch",
        **kwargs: Any,
    ):
        plugin = DERPlugin(
            mem_size=mem_size,
            batch_size_mem=batch_size_mem,
            alpha=alpha,
            beta=beta,
            memory_update=memory_update,
        )
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
