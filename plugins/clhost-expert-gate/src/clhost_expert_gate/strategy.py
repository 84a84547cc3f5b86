"""ExpertGateStrategy: supervised training of an ``ExpertGate`` model with its plugin."""

from __future__ import annotations

from typing import Any

from torch import nn

from clhost.errors import ParameterError
from clhost.templates import SupervisedTemplate
from clhost_expert_gate.model import ExpertGate
from clhost_expert_gate.plugin import ExpertGatePlugin


class ExpertGateStrategy(SupervisedTemplate, plugin=ExpertGatePlugin):
    """Expert Gate (Aljundi, Chakravarty and Tuytelaars, CVPR 2017): a new expert and a
    gating autoencoder for every training experience, the expert initialised from the
    most related earlier one, the gate choosing an expert per test sample without task
    labels. The model must be an ``ExpertGate``; the other parameters are
    ``ExpertGatePlugin``'s. ``clhost run`` builds an ``ExpertGate`` sized from the
    benchmark unless ``--model expert-gate:...`` sets its parameters."""

    default_model = ExpertGate
    models = {"expert-gate": ExpertGate}

    def __init__(self, *, model: nn.Module, plugins: Any, **kwargs: Any):
        if not isinstance(model, ExpertGate):
            raise ParameterError(
                "ExpertGateStrategy trains an ExpertGate model (clhost_expert_gate.ExpertGate), "
                f"got {type(model).__name__}"
            )
        super().__init__(model=model, plugins=plugins, **kwargs)
