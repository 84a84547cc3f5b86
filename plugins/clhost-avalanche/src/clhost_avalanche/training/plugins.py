"""``avalanche.training.plugins``: clhost's plugins under Avalanche's names, the
``EvaluationPlugin`` of this layer, and ``SupervisedPlugin`` for writing your own."""

from __future__ import annotations

from clhost_avalanche._exports import lazy_module
from clhost_avalanche.core import SupervisedPlugin
from clhost_avalanche.evaluation.plugin import EvaluationPlugin, default_evaluator

EXPORTS = {
    "AGEMPlugin": "clhost_agem:AGEMPlugin",
    "BiCPlugin": "clhost_bic:BiCPlugin",
    "CoPEPlugin": "clhost_cope:CoPEPlugin",
    "CWRStarPlugin": "clhost_cwr_star:CWRStarPlugin",
    "EarlyStoppingPlugin": "clhost_avalanche.training.early_stopping:EarlyStoppingPlugin",
    "EWCPlugin": "clhost_ewc:EWCPlugin",
    "FromScratchTrainingPlugin": "clhost_from_scratch:FromScratchTrainingPlugin",
    "GDumbPlugin": "clhost_gdumb:GDumbPlugin",
    "GEMPlugin": "clhost_gem:GEMPlugin",
    "GenerativeReplayPlugin": "clhost_generative_replay:GenerativeReplayPlugin",
    "TrainGeneratorAfterExpPlugin": "clhost_generative_replay:TrainGeneratorAfterExpPlugin",
    "GSS_greedyPlugin": "clhost_gss:GSS_greedyPlugin",
    "LFLPlugin": "clhost_lfl:LFLPlugin",
    "LRSchedulerPlugin": "clhost_lr_scheduler:LRSchedulerPlugin",
    "LwFPlugin": "clhost_lwf:LwFPlugin",
    "MASPlugin": "clhost_mas:MASPlugin",
    "MIRPlugin": "clhost_mir:MIRPlugin",
    "RARPlugin": "clhost_rar:RARPlugin",
    "ReplayPlugin": "clhost_replay:ReplayPlugin",
    "RWalkPlugin": "clhost_rwalk:RWalkPlugin",
    "SynapticIntelligencePlugin": "clhost_synaptic_intelligence:SynapticIntelligencePlugin",
}
UNSUPPORTED = {
    "PPPloss": "CoPEPlugin computes its pseudo-prototypical loss itself",
    "FeatureDistillationPlugin": "not in clhost",
    **{
        name: "use ICaRL, or clhost.models.NCMClassifier with your own class means"
        for name in ("CurrentDataNCMUpdate", "MemoryNCMUpdate", "NCMOracle")
    },
    **{
        name: "FeCAM is not in clhost"
        for name in ("CurrentDataFeCAMUpdate", "MemoryFeCAMUpdate", "FeCAMOracle")
    },
}
__getattr__, __dir__ = lazy_module(globals(), EXPORTS, UNSUPPORTED)
__all__ = ["EvaluationPlugin", "SupervisedPlugin", "default_evaluator", *EXPORTS]
