"""Expert Gate's training steps around each experience: the new task's autoencoder, the
choice of the most related expert, and LwF distillation from it when related enough."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from clhost import hookimpl, validate
from clhost.errors import PluginCompositionError
from clhost.models import freeze_modules
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import experience_tensors
from clhost_expert_gate.gate import most_related, train_autoencoder
from clhost_expert_gate.model import ExpertGate
from clhost_loss_lwf import distillation_loss  # type: ignore[import-untyped]


class ExpertGatePlugin(SupervisedPlugin):
    """Before each experience: trains its autoencoder (``ae_train_epochs`` epochs of SGD
    at ``ae_lr``, momentum 0.9, minibatches of ``ae_train_mb_size``) on the frozen
    features of the experience's data; measures how related each earlier task is from the
    reconstruction errors on that data (``relatedness``); initialises the new expert's
    body from the most related expert's; and, when the relatedness is above
    ``rel_thresh``, trains it with Learning without Forgetting: the related expert's head
    is kept as ``old_head`` and its outputs on the new data are distilled towards the
    related expert's (``lwf_alpha``, ``lwf_temperature``); otherwise it is fine-tuned.
    Every earlier expert and autoencoder is frozen. The model must be an ``ExpertGate``.
    """

    state_key = "expert-gate"
    distributed = "unsupported"
    distributed_reason = (
        "its autoencoders train in their own loop before each experience, outside DDP"
    )

    def __init__(
        self,
        ae_train_mb_size: int = 16,
        ae_train_epochs: int = 10,
        ae_lr: float = 0.001,
        rel_thresh: float = 0.85,
        lwf_alpha: float = 1.0,
        lwf_temperature: float = 2.0,
    ):
        self.ae_train_mb_size = validate.positive_int("ae_train_mb_size", ae_train_mb_size)
        self.ae_train_epochs = validate.positive_int("ae_train_epochs", ae_train_epochs)
        self.ae_lr = validate.number("ae_lr", ae_lr, low=0.0, low_open=True)
        self.rel_thresh = validate.number("rel_thresh", rel_thresh)
        self.lwf_alpha = validate.number("lwf_alpha", lwf_alpha, low=0.0)
        self.lwf_temperature = validate.number(
            "lwf_temperature", lwf_temperature, low=0.0, low_open=True
        )
        self.distillation: Tensor | None = None

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        if not isinstance(strategy.model, ExpertGate):
            raise PluginCompositionError(
                "ExpertGatePlugin needs an ExpertGate model (clhost_expert_gate.ExpertGate), "
                f"got {type(strategy.model).__name__}"
            )

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        model: ExpertGate = strategy.model
        *old, new = range(len(model.experts))
        for index in old:
            freeze_modules(model.experts[index].modules())
            freeze_modules(model.autoencoders[index].modules())
        inputs = experience_tensors(strategy.experience).x.split(strategy.eval_mb_size)
        codes = torch.cat([model.codes(part.to(strategy.device)) for part in inputs])
        train_autoencoder(
            model.autoencoder(new), codes, self.ae_train_epochs, self.ae_train_mb_size, self.ae_lr
        )
        if not old:
            return
        autoencoders = [model.autoencoder(index) for index in (*old, new)]
        related, relatedness = most_related(autoencoders, codes)
        expert, teacher = model.expert(new), model.expert(related)
        with torch.no_grad():
            expert.body.load_state_dict(teacher.body.state_dict())
            if relatedness > self.rel_thresh:
                expert.old_head.load_state_dict(teacher.head.state_dict())
                expert.teacher.fill_(related)

    @hookimpl
    def clhost_after_forward(self, strategy: Any) -> None:
        model: ExpertGate = strategy.model
        distilled, model.distilled = model.distilled, None
        own = model.expert(-1).own
        if not bool(own[strategy.mb_y].all()):
            raise PluginCompositionError(
                "a training sample of a class outside the current experience reached the "
                "expert being trained (a replay plugin?): Expert Gate trains each expert on "
                "its own task's data only"
            )
        if distilled is None:
            return
        teacher = model.expert(int(model.expert(-1).teacher))
        with torch.no_grad():
            target = teacher.head(teacher.body(strategy.mb_x))
        units = teacher.own.nonzero().flatten()
        self.distillation = self.lwf_alpha * distillation_loss(
            distilled, target, units, self.lwf_temperature
        )

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> tuple[str, Tensor] | None:
        term, self.distillation = self.distillation, None
        return None if term is None else ("lwf", term)
