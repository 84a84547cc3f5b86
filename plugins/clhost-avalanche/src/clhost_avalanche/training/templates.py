"""``avalanche.training.templates``: clhost's templates with Avalanche's face, to subclass
(override ``criterion()``, ``training_epoch()``, ... as in Avalanche)."""

from __future__ import annotations

from clhost.templates import BaseSGDTemplate as _BaseSGD
from clhost.templates import SupervisedTemplate as _Supervised
from clhost_avalanche._exports import lazy_module
from clhost_avalanche.training._strategy import avalanche_strategy

BaseSGDTemplate = avalanche_strategy(_BaseSGD, "BaseSGDTemplate")
SupervisedTemplate = avalanche_strategy(_Supervised, "SupervisedTemplate")
for _template in (BaseSGDTemplate, SupervisedTemplate):
    _template.__module__ = __name__

UNSUPPORTED = {
    "BaseTemplate": "subclass SupervisedTemplate (clhost's BaseTemplate has no SGD loop)",
    "SupervisedMetaLearningTemplate": "use the meta-learning template of clhost natively",
}
__getattr__, __dir__ = lazy_module(globals(), {}, UNSUPPORTED)
__all__ = ["BaseSGDTemplate", "SupervisedTemplate"]
