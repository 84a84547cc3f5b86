"""CODA-Prompt: attention-weighted prompt components on a frozen pretrained ViT."""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import Tensor

from clhost.validate import number
from clhost_coda_prompt.model import CODAPromptViT
from clhost_pretrained.template import PromptTemplate


class CODAPrompt(PromptTemplate):
    """CODA-Prompt (Smith et al., CVPR 2023): a pretrained ViT stays frozen; at each layer
    of ``prompt_layer_idx`` a prompt of ``prompt_length`` tokens (prefix keys and values)
    is a weighted sum of ``pool_size`` components, weighted by the cosine similarity of
    the query (the frozen [CLS] feature) masked by each component's attention vector to
    its key (``CODAPromptViT``). Each of ``n_tasks`` experiences trains its own share of
    components, started orthogonal to the earlier ones, which stay frozen; everything is
    trained end to end by the cross-entropy (no key-pull term), plus ``ortho_weight``
    times the paper's orthogonality penalty (``PromptComponents.orthogonality``; 0, off,
    by default, as in the authors' released run scripts). The backbone, loss
    masking, optimizer, ``bf16`` and ``channels_last`` are ``PromptTemplate``'s."""

    def __init__(
        self,
        *,
        pool_size: int = 100,
        prompt_length: int = 8,
        prompt_layer_idx: tuple[int, ...] = (0, 1, 2, 3, 4),
        n_tasks: int = 10,
        ortho_weight: float = 0.0,
        lr: float = 0.001,
        **template: Any,
    ):
        self.ortho_weight = number("ortho_weight", ortho_weight, low=0)
        prompted = partial(
            CODAPromptViT,
            pool_size=pool_size,
            prompt_length=prompt_length,
            prompt_layer_idx=prompt_layer_idx,
            n_tasks=n_tasks,
        )
        # sim_coefficient 0: the component weights learn from the cross-entropy
        super().__init__(prompted, 0.0, lr=lr, **template)

    model: CODAPromptViT

    def criterion(self) -> Tensor:
        """The cross-entropy, plus ``ortho_weight`` times the orthogonality penalty of
        the components, keys and attention vectors while training."""
        loss = super().criterion()
        if self.ortho_weight and self.is_training:
            loss = loss + self.ortho_weight * self.model.orthogonality()
        return loss
