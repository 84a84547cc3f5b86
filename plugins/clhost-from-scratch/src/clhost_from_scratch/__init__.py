"""From-scratch training for clhost: each experience learnt by a freshly initialised model."""

from clhost_from_scratch.plugin import FromScratchTrainingPlugin
from clhost_from_scratch.strategy import FromScratchTraining

__all__ = ["FromScratchTraining", "FromScratchTrainingPlugin"]
