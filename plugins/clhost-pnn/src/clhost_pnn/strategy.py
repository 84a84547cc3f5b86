"""PNNStrategy: supervised training of a ``PNN``, which grows and freezes itself."""

from __future__ import annotations

from typing import Any

from torch import nn

from clhost.errors import ParameterError
from clhost.templates import SupervisedTemplate
from clhost_pnn.model import PNN


class PNNStrategy(SupervisedTemplate):
    """Progressive Neural Networks (Rusu et al., 2016): the supervised template on a
    ``PNN`` model, which adds a column for each new task label and freezes the earlier
    ones. Every keyword is the template's; ``clhost run`` builds a ``PNN`` sized from the
    benchmark unless ``--model`` is given."""

    default_model = PNN

    def __init__(self, *, model: nn.Module, **kwargs: Any):
        if not isinstance(model, PNN):
            raise ParameterError(
                f"PNNStrategy trains a PNN model (clhost_pnn.PNN), got {type(model).__name__}"
            )
        super().__init__(model=model, **kwargs)
