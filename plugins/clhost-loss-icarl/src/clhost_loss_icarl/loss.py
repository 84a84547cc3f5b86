"""iCaRL's classification-and-distillation loss (Rebuffi et al., CVPR 2017, Algorithm 3)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from clhost import hookimpl
from clhost.data import experience_classes
from clhost.importance import require_keys
from clhost.models import forward_with_tasks
from clhost.plugin import SupervisedPlugin
from clhost.regularization import PreviousModel


def icarl_targets(
    targets: Tensor,
    n_units: int,
    previous_logits: Tensor | None = None,
    old_units: Tensor | None = None,
) -> Tensor:
    """One-hot ``targets`` over ``n_units``, with the columns ``old_units`` replaced by the
    previous model's sigmoid outputs (when both are given)."""
    soft = F.one_hot(targets, n_units).to(
        previous_logits.dtype if previous_logits is not None else torch.get_default_dtype()
    )
    if previous_logits is not None and old_units is not None and len(old_units):
        soft[:, old_units] = torch.sigmoid(previous_logits[:, old_units]).to(soft.dtype)
    return soft


def icarl_loss(
    logits: Tensor,
    targets: Tensor,
    previous_logits: Tensor | None = None,
    old_units: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy of ``sigmoid(logits)`` on every unit, averaged over samples and
    units, against ``icarl_targets``: new classes learn from their labels, old classes
    keep the previous model's outputs."""
    soft = icarl_targets(targets, logits.shape[1], previous_logits, old_units)
    return F.binary_cross_entropy_with_logits(logits, soft.to(logits.dtype))


class ICaRLLossPlugin(SupervisedPlugin):
    """The iCaRL loss as a template criterion that keeps its own previous model.

    ``criterion(mb_output, mb_y)``: binary cross-entropy with a sigmoid on every output
    unit (PyTorch's mean reduction). The target of a class seen in an earlier experience
    is the sigmoid output of the model as it was after the last experience, computed on
    the same minibatch (``clhost_before_forward``); every other unit gets the one-hot
    label. On the first experience, and in evaluation, it is the plain BCE on one-hot
    labels. After each experience the model is copied (frozen) and the experience's
    classes become old.
    """

    state_key = "icarl-loss"  # the key its checkpoints always had (``icarl`` is iCaRL's)
    distributed = "replicated"  # the previous model: the same on every rank

    def __init__(self) -> None:
        self.previous_model = PreviousModel()
        self.old_classes: list[int] = []
        self._previous_logits: Tensor | None = None
        self._old_units: Tensor | None = None

    def __call__(self, logits: Tensor, targets: Tensor) -> Tensor:
        previous = self._previous_logits
        if previous is not None and len(previous) != len(logits):
            raise RuntimeError(
                "ICaRLLossPlugin got outputs for another minibatch than the one its previous "
                "model saw; use it as the strategy's criterion"
            )
        return icarl_loss(logits, targets, previous, self._units(logits.device))

    def _units(self, device: torch.device) -> Tensor | None:
        if not self.old_classes:
            return None
        if self._old_units is None or self._old_units.device != device:
            self._old_units = torch.tensor(self.old_classes, dtype=torch.long, device=device)
        return self._old_units

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        # A loaded copy is rebuilt before the model grows for the next experience.
        self.previous_model.module(strategy.model)

    @hookimpl
    def clhost_before_forward(self, strategy: Any) -> None:
        previous = self.previous_model.module(strategy.model)
        if previous is None:
            return
        with torch.no_grad():
            self._previous_logits = forward_with_tasks(previous, strategy.mb_x, strategy.mb_task_id)

    @hookimpl
    def clhost_after_training_iteration(self, strategy: Any) -> None:
        self._previous_logits = None

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        self.previous_model.remember(strategy.model)
        new = set(experience_classes(strategy.experience)) - set(self.old_classes)
        self.old_classes = sorted({*self.old_classes, *new})
        self._old_units = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "previous_model": self.previous_model.state_dict(),
            "old_classes": list(self.old_classes),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        require_keys(state, ("previous_model", "old_classes"), "ICaRLLossPlugin")
        self.previous_model.load_state_dict(state["previous_model"])
        self.old_classes = [int(label) for label in state["old_classes"]]
        self._previous_logits, self._old_units = None, None


ICaRLLoss = ICaRLLossPlugin  # the shorter name; one class
