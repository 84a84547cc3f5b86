"""The training loop shared by the prompt-based methods (L2P, DualPrompt): a frozen ViT
with prompts, trained through its prompts, keys and head only."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from clhost.data import Experience
from clhost.errors import ParameterError
from clhost.templates import SupervisedTemplate
from clhost.validate import boolean, number
from clhost_pretrained.backbone import autocast, prepare_input
from clhost_pretrained.cli import small_vit, vit

BETAS = (0.9, 0.999)


class PromptTemplate(SupervisedTemplate):
    """Supervised training of a prompted ViT (``model(x, task_labels)`` gives logits and
    keeps its prompt choice in ``model.last_selection``; ``model.head`` is the head).

    The loss is the cross-entropy minus ``sim_coefficient`` times the pull term of the
    chosen keys; with ``use_mask`` the logits of classes outside the current experience
    are masked while training. A fresh Adam (``lr``, betas 0.9/0.999) over the trainable
    parameters starts each experience, as in Avalanche's L2P. ``bf16`` runs the forward
    pass under bf16 autocast, ``channels_last`` feeds channels-last images. Subclasses
    build the model and say which task labels force the prompt choice
    (``prompt_task_labels``).
    """

    models = {"vit": vit}  # clhost run --model vit:model_name=...,pretrained_path=...
    default_model = small_vit  # without --model: a small random ViT, to try it offline

    def __init__(
        self,
        *,
        model: nn.Module,
        lr: float,
        sim_coefficient: float,
        use_mask: bool,
        bf16: bool,
        channels_last: bool,
        **template: Any,
    ):
        self.lr = number("lr", lr, low=0, low_open=True)
        self.sim_coefficient = number("sim_coefficient", sim_coefficient)
        self.use_mask = boolean("use_mask", use_mask)
        self.bf16 = boolean("bf16", bf16)
        self.channels_last = boolean("channels_last", channels_last)
        if self.channels_last:
            model.backbone.to(memory_format=torch.channels_last)
        super().__init__(model=model, optimizer=self._adam(model), **template)

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
        """A fresh Adam for each experience, over the prompts, their keys and the head."""
        self.optimizer = self._adam(self.model)

    def prompt_task_labels(self) -> Tensor | None:
        """The task labels the model receives (they force the prompt choice where the
        method says so); the minibatch's own by default."""
        return self.mb_task_id

    def forward(self) -> Tensor:
        x = prepare_input(self.mb_x, self.channels_last)
        with autocast(self.device, self.bf16):
            logits = self.forward_module(x, self.prompt_task_labels()).float()  # DDP if any
        if self.use_mask and self.is_training:
            present = torch.zeros(logits.shape[1], dtype=torch.bool, device=logits.device)
            present[list(self.experience.classes_in_this_experience)] = True
            logits = logits.masked_fill(~present, float("-inf"))
        return logits

    def criterion(self) -> Tensor:
        loss = self._criterion(self.mb_output, self.mb_y)
        selection = self.model.last_selection
        if selection is not None and self.sim_coefficient:
            loss = loss - self.sim_coefficient * selection.pull
        return loss
