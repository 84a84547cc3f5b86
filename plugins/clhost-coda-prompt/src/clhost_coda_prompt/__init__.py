"""CODA-Prompt (Smith et al., CVPR 2023) for clhost."""

from clhost_coda_prompt.model import CODAPromptViT, PromptComponents
from clhost_coda_prompt.strategy import CODAPrompt

__all__ = ["CODAPrompt", "CODAPromptViT", "PromptComponents"]
