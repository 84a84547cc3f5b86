"""The BiC strategy: the supervised template with a ``BiCPlugin`` first in line."""

from __future__ import annotations

from typing import Any

from clhost.rehearsal import ExemplarsBuffer
from clhost.templates import SupervisedTemplate
from clhost_bic.plugin import BiCPlugin


class BiC(SupervisedTemplate):
    """BiC (Wu et al., CVPR 2019): see ``BiCPlugin`` for the parameters; every keyword of
    ``SupervisedTemplate`` is accepted and extra ``plugins`` run after BiC's."""

    def __init__(
        self,
        *,
        mem_size: int = 2000,
        batch_size: int | None = None,
        batch_size_mem: int | None = None,
        task_balanced_dataloader: bool = False,
        buffer: ExemplarsBuffer | None = None,
        val_percentage: float = 0.1,
        T: int = 2,
        stage_2_epochs: int = 200,
        lamb: float = -1,
        lr: float = 0.1,
        **kwargs: Any,
    ):
        plugin = BiCPlugin(
            mem_size=mem_size,
            batch_size=batch_size,
            batch_size_mem=batch_size_mem,
            task_balanced_dataloader=task_balanced_dataloader,
            buffer=buffer,
            val_percentage=val_percentage,
            T=T,
            stage_2_epochs=stage_2_epochs,
            lamb=lamb,
            lr=lr,
        )
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
