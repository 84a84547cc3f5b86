"""FromScratchTraining as a strategy: the supervised template with the reset plugin first."""

from __future__ import annotations

from typing import Any

from clhost.templates import SupervisedTemplate
from clhost_from_scratch.plugin import FromScratchTrainingPlugin


class FromScratchTraining(SupervisedTemplate):
    """Train each experience from the initial weights; see ``FromScratchTrainingPlugin``."""

    def __init__(self, *, reset_optimizer: bool = True, **kwargs: Any):
        plugin = FromScratchTrainingPlugin(reset_optimizer=reset_optimizer)
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
