"""Avalanche's ``EarlyStoppingPlugin``: clhost's, reading Avalanche's metric names."""

from __future__ import annotations

from typing import Literal

from clhost_early_stopping import (  # type: ignore[import-untyped]
    EarlyStoppingPlugin as _EarlyStoppingPlugin,
)


class EarlyStoppingPlugin(_EarlyStoppingPlugin):
    """Stops training an experience when ``metric_name`` (an Avalanche metric, e.g.
    ``Top1_Acc_Stream``) on ``val_stream_name`` has not improved for ``patience`` epochs
    or iterations, and restores the best weights, as Avalanche's does (``verbose`` prints
    nothing here)."""

    def __init__(
        self,
        patience: int,
        val_stream_name: str,
        metric_name: str = "Top1_Acc_Stream",
        mode: Literal["max", "min"] = "max",
        peval_mode: Literal["epoch", "iteration"] = "epoch",
        margin: float = 0.0,
        verbose: bool = False,
    ):
        super().__init__(
            patience,
            val_stream_name,
            metric_name=metric_name,
            mode=mode,
            peval_mode=peval_mode,
            margin=margin,
        )
