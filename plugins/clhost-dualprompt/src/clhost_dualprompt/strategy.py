"""DualPrompt: general and expert prefix prompts on a frozen pretrained ViT."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from clhost.templates.base import DEFAULT
from clhost.validate import boolean
from clhost_dualprompt.model import DualPromptViT
from clhost_pretrained import build_backbone
from clhost_pretrained.backbone import DEFAULT_MODEL_NAME
from clhost_pretrained.prompt import PromptInit
from clhost_pretrained.template import PromptTemplate


class DualPrompt(PromptTemplate):
    """DualPrompt (Wang et al., ECCV 2022): a pretrained ViT stays frozen; a G-prompt
    shared by all tasks is prefixed to the attention of the layers
    ``g_prompt_layer_idx``, and an E-prompt, one per task from a pool of ``pool_size``
    with keys, to the layers ``e_prompt_layer_idx`` (``DualPromptViT``). While training
    (``use_prompt_mask``) each experience trains its own E-prompt and pulls its key
    towards the queries (the frozen [CLS] features); at test time the E-prompt whose key
    matches the query is used. The loss, masking, optimizer, ``bf16`` and
    ``channels_last`` are ``PromptTemplate``'s; the backbone is ``model`` (a timm ViT) or
    the timm model ``model_name`` with weights from ``pretrained_path``.
    """

    def __init__(
        self,
        *,
        model_name: str = DEFAULT_MODEL_NAME,
        model: nn.Module | None = None,
        pretrained: bool = True,
        pretrained_path: str | None = None,
        num_classes: int = 10,
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
        use_mask: bool = True,
        bf16: bool = False,
        channels_last: bool = False,
        criterion: Callable[..., Tensor] | None = None,
        train_mb_size: int = 32,
        train_epochs: int = 1,
        eval_mb_size: int | None = None,
        device: str | torch.device | None = None,
        plugins: Sequence[object] = (),
        evaluator: Any = DEFAULT,
        eval_every: int = -1,
        peval_mode: Literal["epoch", "iteration"] = "epoch",
        num_workers: int = 0,
    ):
        self.use_prompt_mask = boolean("use_prompt_mask", use_prompt_mask)
        prompted = DualPromptViT(
            build_backbone(model, model_name, pretrained, pretrained_path),
            num_classes,
            g_prompt_length=g_prompt_length,
            g_prompt_layer_idx=g_prompt_layer_idx,
            e_prompt_length=e_prompt_length,
            e_prompt_layer_idx=e_prompt_layer_idx,
            pool_size=pool_size,
            top_k=top_k,
            prompt_init=prompt_init,
            head_type=head_type,
        )
        super().__init__(
            model=prompted,
            lr=lr,
            sim_coefficient=sim_coefficient,
            use_mask=use_mask,
            bf16=bf16,
            channels_last=channels_last,
            criterion=criterion,
            train_mb_size=train_mb_size,
            train_epochs=train_epochs,
            eval_mb_size=eval_mb_size,
            device=device,
            plugins=plugins,
            evaluator=evaluator,
            eval_every=eval_every,
            peval_mode=peval_mode,
            num_workers=num_workers,
        )

    model: DualPromptViT

    def prompt_task_labels(self) -> Tensor | None:
        """While training with ``use_prompt_mask``: the experience's index, whose E-prompt
        it trains; otherwise none (the query chooses)."""
        if not (self.is_training and self.use_prompt_mask):
            return None
        return torch.full_like(self.mb_y, self.experience.current_experience)
