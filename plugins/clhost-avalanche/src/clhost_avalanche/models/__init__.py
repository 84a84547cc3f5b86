"""``avalanche.models``: clhost's reference models with Avalanche's constructor arguments."""

from __future__ import annotations

from clhost_avalanche._exports import lazy_module
from clhost_avalanche.models.classifiers import IncrementalClassifier
from clhost_avalanche.models.cnn import MTSimpleCNN, SimpleCNN
from clhost_avalanche.models.mlp import MTSimpleMLP, SimpleMLP, SlimResNet18

EXPORTS = {
    "MultiHeadClassifier": "clhost.models:MultiHeadClassifier",
    "MultiTaskModule": "clhost.models:MultiTaskModule",
    "DynamicModule": "clhost.models:DynamicModule",
    "NCMClassifier": "clhost.models:NCMClassifier",
    "BatchRenorm2D": "clhost.models:BatchRenorm",
    "avalanche_forward": "clhost.models:forward_with_tasks",
    "SCRModel": "clhost_avalanche.models.scr:SCRModel",
    "PNN": "clhost_pnn:PNN",
}
UNSUPPORTED = {
    name: "build it with torch; growing heads are in clhost.models"
    for name in (
        "as_multitask",
        "LeNet5",
        "MobilenetV1",
        "SimpleSequenceClassifier",
        "MTSimpleSequenceClassifier",
        "IcarlNet",
        "make_icarl_net",
        "initialize_icarl_net",
        "FeCAMClassifier",
        "CosineIncrementalClassifier",
        "CosineLinear",
        "ExpertGate",
        "PNNColumn",
        "PNNLayer",
        "LinearAdapter",
        "MLPAdapter",
        "MlpVAE",
        "VAE_loss",
        "BaseModel",
        "FeatureExtractorBackbone",
        "FeatureExtractorModel",
        "Flatten",
        "MLP",
        "MTSlimResNet18",
        "Prompt",
        "SLDAResNetModel",
        "SimpleMLP_TinyImageNet",
        "TrainEvalModel",
        "create_model",
    )
}
__getattr__, __dir__ = lazy_module(globals(), EXPORTS, UNSUPPORTED)
__all__ = [
    "IncrementalClassifier",
    "MTSimpleCNN",
    "MTSimpleMLP",
    "SimpleCNN",
    "SimpleMLP",
    "SlimResNet18",
    *EXPORTS,
]
