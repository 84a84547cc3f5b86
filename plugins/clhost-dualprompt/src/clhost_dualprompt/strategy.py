"""DualPrompt: general and expert prefix prompts on a frozen pretrained ViT."""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import torch
from torch import Tensor

from clhost.validate import boolean
from clhost_dualprompt.model import DualPromptViT
from clhost_pretrained.prompt import PromptInit
from clhost_pretrained.template import PromptTemplate


class DualPrompt(PromptTemplate):
    """DualPrompt (Wang et al., ECCV 2022): a pretrained ViT stays frozen; a G-prompt
    shared by all tasks is prefixed to the attention of the layers
    ``g_prompt_layer_idx``, and an E-prompt, one per task from a pool of ``pool_size``
    with keys, to the layers ``e_prompt_layer_idx`` (``DualPromptViT``). While training
    (``use_prompt_mask``) each experience trains its own E-prompt and pulls its key
    towards the queries (the frozen [CLS] features); at test time the E-prompt whose key
    matches the query is used. The backbone, loss, masking, optimizer, ``bf16`` and
    ``channels_last`` are ``PromptTemplate``'s.
    """

    def __init__(
        self,
        *,
        g_prompt_length: int = 5,
        g_prompt_layer_idx: tuple[int, ...] = (0, 1),
        e_prompt_length: int = 5,
        e_prompt_layer_idx: tuple[int, ...] = (2, 3, 4),
        pool_size: int = 10,
        top_k: int = 1,
        prompt_init: PromptInit = "uniform",
        head_type: Literal["token", "gap"] = "token",
        use_prompt_mask: bool = True,
        lr: float = 0.005,
        sim_coefficient: float = 1.0,
        **template: Any,
    ):
        self.use_prompt_mask = boolean("use_prompt_mask", use_prompt_mask)
        prompted = partial(
            DualPromptViT,
            g_prompt_length=g_prompt_length,
            g_prompt_layer_idx=g_prompt_layer_idx,
            e_prompt_length=e_prompt_length,
            e_prompt_layer_idx=e_prompt_layer_idx,
            pool_size=pool_size,
            top_k=top_k,
            prompt_init=prompt_init,
            head_type=head_type,
        )
        super().__init__(prompted, sim_coefficient, lr=lr, **template)

    model: DualPromptViT

    def prompt_task_labels(self) -> Tensor | None:
        """While training with ``use_prompt_mask``: the experience's index, whose E-prompt
        it trains; otherwise none (the query chooses)."""
        if not (self.is_training and self.use_prompt_mask):
            return None
        return torch.full_like(self.mb_y, self.experience.current_experience)
