"""The LwF term: keep the outputs of old classes where the previous model had them."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clhost import hookimpl, validate
from clhost.data import experience_classes
from clhost.importance import require_keys
from clhost.models import MultiTaskModule
from clhost.regularization import ExperienceWeights, PreviousModel, RegularizationMethod


def distillation_loss(
    logits: Tensor, previous_logits: Tensor, units: Tensor, temperature: float
) -> Tensor:
    """KL divergence from the previous model's softened outputs to the current ones,
    over ``units`` only, averaged over the minibatch.

    It differs from the paper's soft cross-entropy by the entropy of the previous outputs,
    a constant, so the gradients are the same and the term is zero when nothing changed.
    """
    log_current = F.log_softmax(logits[:, units] / temperature, dim=1)
    log_previous = F.log_softmax(previous_logits[:, units] / temperature, dim=1)
    return F.kl_div(log_current, log_previous, reduction="batchmean", log_target=True)


class LearningWithoutForgetting(RegularizationMethod):
    """Learning without Forgetting (Li & Hoiem, 2017).

    After each experience a frozen copy of the model is kept. While training the next
    ones, the outputs of the current model on the current inputs are distilled towards
    the copy's, at ``temperature``, on the units of previously seen classes only: new
    classes are learnt freely and old ones keep their responses. For a multi-task model
    every previously seen task's head is distilled on the current inputs, and the
    per-task terms are summed as in the paper. ``alpha`` weighs the term, as one number
    or one per experience; the term is zero on the first experience.

    Use it as a plugin, as a strategy's criterion (cross-entropy, plus the term added by
    its hooks) or call it directly; see ``RegularizationMethod``.
    """

    term_name = "lwf"
    state_key = "lwf"
    distributed = "replicated"  # the previous model: the same on every rank

    def __init__(self, alpha: float | list[float] = 1.0, temperature: float = 2.0):
        self.alpha = ExperienceWeights("alpha", alpha)
        self.temperature = validate.number("temperature", temperature, low=0.0, low_open=True)
        self.previous_model = PreviousModel()
        self.previous_classes: dict[int, tuple[int, ...]] = {}
        self.experiences_seen = 0
        self._units: dict[int, Tensor] = {}

    def penalty(self, mb_x: Tensor, mb_pred: Tensor, model: nn.Module) -> Tensor:
        previous = self.previous_model.module(model)
        alpha = self.alpha.at(self.experiences_seen)
        if previous is None or alpha == 0:
            return mb_pred.new_zeros(())
        if isinstance(model, MultiTaskModule):
            return alpha * self._multi_task_penalty(mb_x, mb_pred, model, previous)
        units = self._units_on(-1, mb_pred.device)
        with torch.no_grad():
            previous_logits = previous(mb_x)
        return alpha * distillation_loss(mb_pred, previous_logits, units, self.temperature)

    def _multi_task_penalty(
        self, mb_x: Tensor, mb_pred: Tensor, model: nn.Module, previous: nn.Module
    ) -> Tensor:
        """Every previous task's head on the minibatch, in one pass of each model over
        the minibatch repeated once per task (one call instead of one per task)."""
        tasks = list(self.previous_classes)
        size, device = len(mb_x), mb_x.device
        inputs = mb_x.repeat(len(tasks), *(1,) * (mb_x.dim() - 1))
        task_labels = torch.tensor(tasks, device=device).repeat_interleave(size)
        logits = model(inputs, task_labels)
        with torch.no_grad():
            previous_logits = previous(inputs, task_labels)
        total = mb_pred.new_zeros(())
        for index, task in enumerate(tasks):
            rows = slice(index * size, (index + 1) * size)
            units = self._units_on(task, device)
            total = total + distillation_loss(
                logits[rows], previous_logits[rows], units, self.temperature
            )
        return total

    def _units_on(self, task: int, device: torch.device) -> Tensor:
        """The units of classes seen before (in ``task``; ``-1``: in any task)."""
        units = self._units.get(task)
        if units is None or units.device != device:
            classes = (
                self.previous_classes[task]
                if task >= 0
                else sorted({c for group in self.previous_classes.values() for c in group})
            )
            units = self._units[task] = torch.tensor(classes, dtype=torch.long, device=device)
        return units

    def update(self, strategy: Any) -> None:
        """Keep a frozen copy of the model and the classes the experience brought."""
        experience = strategy.experience
        classes = experience_classes(experience)
        for task in experience.task_labels:
            self.previous_classes[int(task)] = tuple(
                sorted({*self.previous_classes.get(int(task), ()), *classes})
            )
        self._units.clear()
        self.previous_model.remember(strategy.model)
        self.experiences_seen += 1

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        # A loaded copy is rebuilt before the model grows for the next experience.
        self.previous_model.module(strategy.model)

    def state_dict(self) -> dict[str, Any]:
        return {
            "previous_model": self.previous_model.state_dict(),
            "previous_classes": {str(t): list(c) for t, c in self.previous_classes.items()},
            "experiences_seen": self.experiences_seen,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        require_keys(state, ("previous_model", "previous_classes", "experiences_seen"), "LwF")
        self.previous_model.load_state_dict(state["previous_model"])
        self.previous_classes = {
            int(t): tuple(int(c) for c in classes)
            for t, classes in state["previous_classes"].items()
        }
        self.experiences_seen = int(state["experiences_seen"])
        self._units.clear()
