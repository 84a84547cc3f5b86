"""DualPrompt (Wang et al., ECCV 2022) for clhost."""

from clhost_dualprompt.model import DualPromptViT
from clhost_dualprompt.strategy import DualPrompt

__all__ = ["DualPrompt", "DualPromptViT"]
