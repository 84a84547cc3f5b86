"""LearningToPrompt: L2P's prompt pool on a frozen pretrained ViT, Avalanche's parameters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from clhost.data import Experience
from clhost.errors import ParameterError
from clhost.templates import SupervisedTemplate
from clhost.templates.base import DEFAULT
from clhost.validate import boolean, number
from clhost_l2p.model import build_l2p_model
from clhost_pretrained.backbone import DEFAULT_MODEL_NAME, autocast, prepare_input
from clhost_pretrained.cli import vit
from clhost_pretrained.prompt import PromptInit
from clhost_pretrained.prompted import EmbeddingKey, HeadType, PromptedViT

BETAS = (0.9, 0.999)


class LearningToPrompt(SupervisedTemplate):
    """Learning to Prompt (Wang et al., CVPR 2022): a pretrained Vision Transformer stays
    frozen; a pool of ``pool_size`` prompts of ``prompt_length`` tokens, each with a key,
    is learned with a linear head of ``num_classes`` outputs. Each image's query (the
    frozen ViT's [CLS] feature, ``use_cls_features``) picks the ``top_k`` prompts whose
    keys are the most cosine-similar; they are inserted into the ViT's token sequence and
    the head reads the mean of their outputs (``head_type``). The loss is the
    cross-entropy minus ``sim_coefficient`` times the summed query-key similarity of the
    chosen keys (the pull constraint). With ``use_mask`` the logits of classes outside the
    current experience are masked while training. A fresh Adam (``lr``) over prompts,
    keys and head starts each experience, as in Avalanche.

    The backbone is ``model`` (a timm ViT, for ``clhost run --model vit:...``) or the
    timm model ``model_name`` built with ``drop_rate``/``drop_path_rate``, its weights
    read from ``pretrained_path`` when ``pretrained`` (never downloaded). ``bf16`` runs
    the forward pass under bf16 autocast, ``channels_last`` feeds channels-last images.
    """

    def __init__(
        self,
        *,
        model_name: str = DEFAULT_MODEL_NAME,
        criterion: Callable[..., Tensor] | None = None,
        train_mb_size: int = 32,
        train_epochs: int = 1,
        eval_mb_size: int | None = None,
        device: str | torch.device | None = None,
        plugins: Sequence[object] = (),
        evaluator: Any = DEFAULT,
        eval_every: int = -1,
        peval_mode: Literal["epoch", "iteration"] = "epoch",
        prompt_pool: bool = True,
        pool_size: int = 20,
        prompt_length: int = 5,
        top_k: int = 5,
        lr: float = 0.03,
        sim_coefficient: float = 0.1,
        prompt_key: bool = True,
        pretrained: bool = True,
        num_classes: int = 10,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        embedding_key: EmbeddingKey = "cls",
        prompt_init: PromptInit = "uniform",
        batchwise_prompt: bool = False,
        head_type: HeadType = "prompt",
        use_prompt_mask: bool = False,
        train_prompt_mask: bool = False,
        use_cls_features: bool = True,
        use_mask: bool = True,
        use_vit: bool = True,
        model: nn.Module | None = None,
        pretrained_path: str | None = None,
        bf16: bool = False,
        channels_last: bool = False,
        num_workers: int = 0,
    ):
        if not boolean("use_vit", use_vit):
            raise ParameterError("use_vit=False is not supported: L2P prompts a timm ViT")
        self.lr = number("lr", lr, low=0, low_open=True)
        self.sim_coefficient = number("sim_coefficient", sim_coefficient)
        self.use_mask, self.prompt_pool = boolean("use_mask", use_mask), prompt_pool
        self.bf16, self.channels_last = (
            boolean("bf16", bf16),
            boolean("channels_last", channels_last),
        )
        prompted = build_l2p_model(
            model=model,
            model_name=model_name,
            pretrained=pretrained,
            pretrained_path=pretrained_path,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
            prompt_pool=prompt_pool,
            pool_size=pool_size,
            prompt_length=prompt_length,
            top_k=top_k,
            prompt_key=prompt_key,
            prompt_init=prompt_init,
            batchwise_prompt=batchwise_prompt,
            num_classes=num_classes,
            head_type=head_type,
            embedding_key=embedding_key,
            use_cls_features=use_cls_features,
            prompt_mask=use_prompt_mask and train_prompt_mask,
        )
        if self.channels_last:
            prompted.backbone.to(memory_format=torch.channels_last)
        super().__init__(
            model=prompted,
            optimizer=self._adam(prompted),
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

    model: PromptedViT
    models = {"vit": vit}  # clhost run --model vit:model_name=...,pretrained_path=...

    def _adam(self, model: nn.Module) -> torch.optim.Adam:
        trainable = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.Adam(trainable, lr=self.lr, betas=BETAS)

    def model_adaptation(self, experience: Experience) -> None:
        classes = max(experience.classes_in_this_experience, default=-1) + 1
        if classes > self.model.head.out_features:
            raise ParameterError(
                f"num_classes is {self.model.head.out_features} but experience "
                f"{experience.current_experience} has class {classes - 1}"
            )
        super().model_adaptation(experience)

    def make_optimizer(self) -> None:
        """A fresh Adam for each experience (Avalanche's L2P), over the prompts, their
        keys and the head."""
        self.optimizer = self._adam(self.model)

    def forward(self) -> Tensor:
        x = prepare_input(self.mb_x, self.channels_last)
        with autocast(self.device, self.bf16):
            logits = self.forward_module(x, self.mb_task_id).float()  # DDP-wrapped if any
        if self.use_mask and self.is_training:
            present = torch.zeros(logits.shape[1], dtype=torch.bool, device=logits.device)
            present[list(self.experience.classes_in_this_experience)] = True
            logits = logits.masked_fill(~present, float("-inf"))
        return logits

    def criterion(self) -> Tensor:
        loss = self._criterion(self.mb_output, self.mb_y)
        selection = self.model.last_selection
        if self.prompt_pool and selection is not None:
            loss = loss - self.sim_coefficient * selection.pull
        return loss
