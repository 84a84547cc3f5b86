"""CODA-Prompt: attention-weighted prompt components on a frozen pretrained ViT."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from clhost.templates.base import DEFAULT
from clhost_coda_prompt.model import CODAPromptViT
from clhost_pretrained import build_backbone
from clhost_pretrained.backbone import DEFAULT_MODEL_NAME
from clhost_pretrained.template import PromptTemplate


class CODAPrompt(PromptTemplate):
    """CODA-Prompt (Smith et al., CVPR 2023): a pretrained ViT stays frozen; at each layer
    of ``prompt_layer_idx`` a prompt of ``prompt_length`` tokens (prefix keys and values)
    is a weighted sum of ``pool_size`` components, weighted by the cosine similarity of
    the query (the frozen [CLS] feature) masked by each component's attention vector to
    its key (``CODAPromptViT``). Each of ``n_tasks`` experiences trains its own share of
    components, started orthogonal to the earlier ones, which stay frozen; everything is
    trained end to end by the cross-entropy (no key-pull term). The loss masking,
    optimizer, ``bf16`` and ``channels_last`` are ``PromptTemplate``'s."""

    def __init__(
        self,
        *,
        model_name: str = DEFAULT_MODEL_NAME,
        model: nn.Module | None = None,
        pretrained: bool = True,
        pretrained_path: str | None = None,
        num_classes: int = 10,
        pool_size: int = 100,
        prompt_length: int = 8,
        prompt_layer_idx: tuple[int, ...] = (0, 1, 2, 3, 4),
        n_tasks: int = 10,
        lr: float = 0.001,
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
        prompted = CODAPromptViT(
            build_backbone(model, model_name, pretrained, pretrained_path),
            num_classes,
            pool_size=pool_size,
            prompt_length=prompt_length,
            prompt_layer_idx=prompt_layer_idx,
            n_tasks=n_tasks,
        )
        super().__init__(
            model=prompted,
            lr=lr,
            sim_coefficient=0.0,  # the component weights learn from the cross-entropy
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

    model: CODAPromptViT
