"""Training templates: the loops that plugins hook into."""

from clhost.templates.base import BaseTemplate, TrainResult
from clhost.templates.built import BuiltModelTemplate, FittingTemplate
from clhost.templates.clock import Clock
from clhost.templates.meta import (
    MetaLearner,
    OnlineMetaLearningTemplate,
    SupervisedMetaLearningTemplate,
)
from clhost.templates.online import OnlineSupervisedTemplate
from clhost.templates.sgd import BaseSGDTemplate
from clhost.templates.supervised import SupervisedTemplate

__all__ = [
    "BaseSGDTemplate",
    "BaseTemplate",
    "BuiltModelTemplate",
    "Clock",
    "FittingTemplate",
    "MetaLearner",
    "OnlineMetaLearningTemplate",
    "OnlineSupervisedTemplate",
    "SupervisedMetaLearningTemplate",
    "SupervisedTemplate",
    "TrainResult",
]
