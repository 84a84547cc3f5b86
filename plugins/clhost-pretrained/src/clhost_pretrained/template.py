"""The base shared by the prompt-based methods (L2P, DualPrompt, CODA-Prompt): a frozen
ViT with prompts, trained through its prompts, keys and head only, and the keywords
every such method takes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from clhost.data import Experience
from clhost.distributed import REPLICATED, UNSUPPORTED
from clhost.errors import ParameterError
from clhost.templates import BuiltModelTemplate
from clhost.validate import boolean, number
from clhost_pretrained.backbone import DEFAULT_MODEL_NAME, autocast, prepare_input
from clhost_pretrained.cli import small_vit, vit
from clhost_pretrained.frozen import build_backbone

BETAS = (0.9, 0.999)
NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})

PromptedFactory = Callable[[nn.Module, int], nn.Module]
"""Builds a method's prompted model from the frozen backbone and ``num_classes``."""


class PromptTemplate(BuiltModelTemplate):
    """Supervised training of a prompted ViT (``model(x, task_labels)`` gives logits and
    keeps its prompt choice in ``model.last_selection``; ``model.head`` is the head).

    The loss is the cross-entropy minus ``sim_coefficient`` times the pull term of the
    chosen keys; with ``use_mask`` the logits of classes outside the current experience
    are masked while training. A fresh Adam (``lr``, betas 0.9/0.999) over the trainable
    parameters starts each experience, as in Avalanche's L2P. ``bf16`` runs the forward
    pass under bf16 autocast, ``channels_last`` feeds channels-last images. The backbone
    is ``model`` (a timm ViT) or the timm model ``model_name`` (with ``backbone_options``),
    its weights read from ``pretrained_path`` when ``pretrained`` (never downloaded);
    ``resize_inputs`` makes it resize and normalise each minibatch on the device to its
    pretrained input (``clhost_pretrained.inputs``).

    A method declares its own keywords (``lr`` at least, for its default) and passes the
    rest up through ``**kwargs``; it gives positionally what is not a keyword of the
    template: ``prompted`` (its model on the backbone), its ``sim_coefficient`` and
    ``backbone_options``. It says which task labels force the prompt choice with
    ``prompt_task_labels``. Its other keywords are ``BuiltModelTemplate``'s (no
    ``optimizer``: each experience makes its own).
    """

    distributed_reason = (
        "batchwise_prompt chooses the prompts by a vote over the minibatch, and each rank "
        "would vote over its own part of it"
    )
    models = {"vit": vit}  # clhost run --model vit:model_name=...,pretrained_path=...
    default_model = small_vit  # without --model: a small random ViT, to try it offline

    def __init__(
        self,
        prompted: PromptedFactory,
        sim_coefficient: float = 0.0,
        backbone_options: Mapping[str, Any] = NO_OPTIONS,
        /,
        *,
        lr: float,
        model_name: str = DEFAULT_MODEL_NAME,
        model: nn.Module | None = None,
        pretrained: bool = True,
        pretrained_path: str | None = None,
        resize_inputs: bool = False,
        num_classes: int = 10,
        use_mask: bool = True,
        bf16: bool = False,
        channels_last: bool = False,
        **template: Any,
    ):
        backbone = build_backbone(
            model, model_name, pretrained, pretrained_path, resize_inputs, **backbone_options
        )
        prompted_model = prompted(backbone, num_classes)
        self.lr = number("lr", lr, low=0, low_open=True)
        self.sim_coefficient = number("sim_coefficient", sim_coefficient)
        self.use_mask = boolean("use_mask", use_mask)
        self.bf16 = boolean("bf16", bf16)
        self.channels_last = boolean("channels_last", channels_last)
        if self.channels_last:
            prompted_model.backbone.to(memory_format=torch.channels_last)
        super().__init__(prompted_model, self._adam(prompted_model), **template)

    @property
    def distributed(self) -> str:  # type: ignore[override]
        """Replicated (the prompts, keys and head train through DDP like any model),
        unless a prompt pool votes over the minibatch (``distributed_reason``)."""
        voting = any(getattr(m, "batchwise_prompt", False) for m in self.model.modules())
        return UNSUPPORTED if voting else REPLICATED

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
