"""GSS_greedy: a supervised strategy with the GSS-greedy plugin built in."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_gss.plugin import GSS_greedyPlugin


class GSS_greedy(SupervisedTemplate):
    """``SupervisedTemplate`` with ``GSS_greedyPlugin`` first among its plugins. For the
    online setting, add ``GSS_greedyPlugin`` to an ``OnlineSupervisedTemplate`` instead."""

    def __init__(
        self,
        *,
        mem_size: int = 200,
        mem_strength: int = 5,
        input_size: tuple[int, ...] | None = None,
        batch_size_mem: int | None = None,
        replay_snapshot: bool = False,
        offer_each_epoch: bool = False,
        **kwargs: Any,
    ):
        plugin = GSS_greedyPlugin(
            mem_size=mem_size,
            mem_strength=mem_strength,
            input_size=input_size,
            batch_size_mem=batch_size_mem,
            replay_snapshot=replay_snapshot,
            offer_each_epoch=offer_each_epoch,
        )
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
