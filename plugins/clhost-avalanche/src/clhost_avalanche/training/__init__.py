"""``avalanche.training``: every strategy of Avalanche's training module, each the native
clhost strategy behind Avalanche's constructor defaults and results
(``clhost_avalanche.training._strategy``), plus its buffers, selection strategies and
losses (clhost's own classes, which already take Avalanche's names)."""

from __future__ import annotations

from typing import Any

from clhost_avalanche._exports import lazy_module, not_supported, resolve
from clhost_avalanche.training._strategy import avalanche_strategy
from clhost_avalanche.training.storage_policy import EXPORTS as STORAGE_EXPORTS


def _identity(x: Any) -> Any:
    """Avalanche's default SCR augmentation: none (``Compose([Lambda(lambda el: el)])``)."""
    return x


STRATEGIES: dict[str, tuple[str, dict[str, Any]]] = {
    "Naive": ("clhost_naive:Naive", {}),
    "Cumulative": ("clhost_cumulative:Cumulative", {}),
    "JointTraining": ("clhost_joint:JointTraining", {}),
    "FromScratchTraining": ("clhost_from_scratch:FromScratchTraining", {}),
    "AR1": ("clhost_ar1:AR1", {"train_mb_size": 128, "train_epochs": 4}),
    "StreamingLDA": ("clhost_streaming_lda:StreamingLDA", {}),
    "ICaRL": ("clhost_icarl:ICaRL", {}),
    "PNNStrategy": ("clhost_pnn:PNNStrategy", {}),
    "CWRStar": ("clhost_cwr_star:CWRStar", {}),
    "Replay": ("clhost_replay:Replay", {}),
    "GSS_greedy": ("clhost_gss:GSS_greedy", {"mem_strength": 1}),
    "GDumb": ("clhost_gdumb:GDumb", {"balancing": "reservoir", "task_balanced_dataloader": True}),
    "LwF": ("clhost_lwf:LwF", {}),
    "AGEM": ("clhost_agem:AGEM", {"sample_size": 64}),
    "GEM": ("clhost_gem:GEM", {}),
    "EWC": ("clhost_ewc:EWC", {}),
    "SynapticIntelligence": (
        "clhost_synaptic_intelligence:SynapticIntelligence",
        {"eps": 1e-7, "max_importance": 1e-3, "sgd_weight_cap": False},
    ),
    "CoPE": ("clhost_cope:CoPE", {"p_size": 100}),
    "LFL": ("clhost_lfl:LFL", {"freeze": "last_layer"}),
    "MAS": ("clhost_mas:MAS", {}),
    "BiC": ("clhost_bic:BiC", {"mem_size": 200}),
    "MIR": ("clhost_mir:MIR", {"batch_size_mem": 1, "memory": "class_balanced"}),
    "MER": ("clhost_mer:MER", {}),
    "ER_ACE": ("clhost_er_ace:ER_ACE", {}),
    "LearningToPrompt": ("clhost_l2p:LearningToPrompt", {}),
    "SCR": ("clhost_scr:SCR", {"augmentations": _identity}),
    "DER": ("clhost_der:DER", {"memory_update": "experience"}),
}
"""Avalanche's strategy name -> the clhost strategy and the options that give Avalanche's
behaviour where clhost's defaults differ (besides ``train_mb_size=1``): Avalanche's
default values, and the clhost options that reproduce Avalanche's design choices (GDumb's
per-class reservoir and task-balanced minibatches, DER's memory filled per experience,
LFL's frozen last layer, SI's importance cap, MIR's class-balanced memory, SCR without
augmentation), as ``benchmarks/parity.py`` found them."""

LOSSES = {
    "LearningWithoutForgetting": "clhost_loss_lwf:LearningWithoutForgetting",
    "SCRLoss": "clhost_loss_scr:SCRLoss",
    "ACECriterion": "clhost_loss_ace:ACECriterion",
    "ICaRLLossPlugin": "clhost_loss_icarl:ICaRLLossPlugin",
}
"""Avalanche's losses (``avalanche.training.losses``), clhost's loss distributions."""

UNSUPPORTED_KEYWORDS: dict[str, dict[str, tuple[Any, str]]] = {
    "MAS": {"verbose": (False, "clhost's MAS does not print its importance computation")},
}
"""Avalanche keywords a strategy does not mirror: accepted at Avalanche's default value,
refused with one line otherwise."""

UNSUPPORTED = {
    "GenerativeReplay": "Avalanche's default generator (an MlpVAE with a classification head, "
    "trained by VAETraining) is not mirrored, so results would differ silently: use "
    "clhost_generative_replay.GenerativeReplay with its own generator options",
    "ExpertGateStrategy": "use clhost_expert_gate.ExpertGateStrategy in a native clhost script "
    "(its experts grow from your backbone, not from Avalanche's ExpertGate model)",
    "OnlineNaive": "use Naive on clhost.benchmarks.split_online(...) mini-experiences",
    "FeatureReplay": "not in clhost",
    "ER_AML": "not in clhost; ER_ACE is",
    "AMLCriterion": "not in clhost; ER_ACE's ACECriterion is",
    "PackNet": "not in clhost",
    "AETraining": "clhost_expert_gate trains its gate autoencoders itself",
    "VAETraining": "GenerativeReplay trains its generator itself (clhost-generative-replay)",
    "MaskedCrossEntropy": "use torch.nn.CrossEntropyLoss; IncrementalClassifier masks unseen units",
    "RegularizationMethod": "write a clhost plugin with the clhost_loss_terms hook",
}


def _lfl_weight(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Avalanche's LFL weighs the mean squared feature distance, clhost's the paper's half
    sum over the features: the same penalty takes ``lambda_e * 2 / features`` here."""
    from clhost.models import last_linear

    features = last_linear(kwargs["model"])[1].in_features
    weight = kwargs.get("lambda_e", 0.1)
    scale = 2 / features
    scaled = [w * scale for w in weight] if isinstance(weight, list) else weight * scale
    return {**kwargs, "lambda_e": scaled}


def _cope_criterion(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Avalanche's CoPE requires a criterion and replaces it with its PPP loss before
    training; clhost's CoPE uses its PPP loss and takes none."""
    return {name: value for name, value in kwargs.items() if name != "criterion"}


def _ar1_backbone(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Avalanche's AR1 takes no model: it downloads an ImageNet-pretrained MobileNetV1.
    clhost never downloads, and its default backbone is a random MobileNetV2, so an AR1
    given neither clhost's ``model`` nor ``pretrained_weights`` is refused rather than
    trained on different weights."""
    if kwargs.get("model") is None and kwargs.get("pretrained_weights") is None:
        raise not_supported(
            "AR1 on its downloaded ImageNet-pretrained MobileNetV1",
            "pass clhost's pretrained_weights=PATH (a local file) or model=...",
        )
    return kwargs


TRANSLATIONS = {"LFL": _lfl_weight, "CoPE": _cope_criterion, "AR1": _ar1_backbone}
"""Keywords whose meaning differs: Avalanche's value -> the clhost value of the same effect."""


def _strategy(name: str) -> type:
    target, defaults = STRATEGIES[name]
    cls = avalanche_strategy(
        resolve(target),
        name,
        defaults,
        UNSUPPORTED_KEYWORDS.get(name, {}),
        TRANSLATIONS.get(name),
    )
    globals()[name] = cls
    return cls


_lookup, __dir__ = lazy_module(globals(), {**STORAGE_EXPORTS, **LOSSES}, UNSUPPORTED)


def __getattr__(name: str) -> Any:
    return _strategy(name) if name in STRATEGIES else _lookup(name)


__all__ = [*STRATEGIES, *STORAGE_EXPORTS, *LOSSES]
