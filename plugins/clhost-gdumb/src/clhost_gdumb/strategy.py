"""The GDumb strategy: a supervised template with the GDumb plugin."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_gdumb.plugin import Balancing, GDumbPlugin


class GDumb(SupervisedTemplate):
    """GDumb (Prabhu et al. 2020) with a memory of ``mem_size`` samples, balanced as
    ``balancing`` says, trained on in task-balanced minibatches with
    ``task_balanced_dataloader`` (see ``GDumbPlugin``)."""

    def __init__(
        self,
        *,
        mem_size: int = 200,
        balancing: Balancing = "greedy",
        task_balanced_dataloader: bool = False,
        **kwargs: Any,
    ):
        plugin = GDumbPlugin(
            mem_size=mem_size,
            balancing=balancing,
            task_balanced_dataloader=task_balanced_dataloader,
        )
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
