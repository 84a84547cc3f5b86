"""Expert Gate (Aljundi, Chakravarty and Tuytelaars, CVPR 2017) for clhost."""

from clhost_expert_gate.gate import most_related, relatedness, train_autoencoder
from clhost_expert_gate.model import Expert, ExpertGate, GateAutoencoder
from clhost_expert_gate.plugin import ExpertGatePlugin
from clhost_expert_gate.strategy import ExpertGateStrategy

__all__ = [
    "Expert",
    "ExpertGate",
    "ExpertGatePlugin",
    "ExpertGateStrategy",
    "GateAutoencoder",
    "most_related",
    "relatedness",
    "train_autoencoder",
]
