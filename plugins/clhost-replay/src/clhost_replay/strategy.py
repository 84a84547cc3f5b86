"""Replay as a strategy: the supervised template with a ``ReplayPlugin`` first in line."""

from __future__ import annotations

from typing import Any

from clhost.rehearsal import ExemplarsBuffer
from clhost.templates import SupervisedTemplate
from clhost_replay.plugin import ReplayPlugin


class Replay(SupervisedTemplate):
    """Experience Replay: see ``ReplayPlugin`` for the parameters; every keyword of
    ``SupervisedTemplate`` is accepted and extra ``plugins`` run after the replay plugin."""

    def __init__(
        self,
        *,
        mem_size: int = 200,
        batch_size: int | None = None,
        batch_size_mem: int | None = None,
        task_balanced_dataloader: bool = False,
        buffer: ExemplarsBuffer | None = None,
        **kwargs: Any,
    ):
        plugin = ReplayPlugin(
            mem_size=mem_size,
            batch_size=batch_size,
            batch_size_mem=batch_size_mem,
            task_balanced_dataloader=task_balanced_dataloader,
            buffer=buffer,
        )
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
