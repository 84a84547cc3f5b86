"""Learning to Prompt (Wang et al., CVPR 2022) for clhost."""

from clhost_l2p.model import build_l2p_model
from clhost_l2p.strategy import LearningToPrompt

__all__ = ["LearningToPrompt", "build_l2p_model"]
