"""SupervisedTemplate: classification with inputs, targets and task labels."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from clhost.distributed import REPLICATED
from clhost.models.dynamic import forward_with_tasks
from clhost.templates.sgd import BaseSGDTemplate


class SupervisedTemplate(BaseSGDTemplate):
    """Minibatches are ``(x, y, t, *extras)``; the criterion compares outputs with ``y``.

    Multi-task models (``MultiTaskModule``) receive the task labels of the minibatch.
    """

    distributed = REPLICATED  # its forward goes through ``forward_module`` (DDP in training)

    @property
    def mb_x(self) -> Tensor:
        return self.mbatch[0]

    @property
    def mb_y(self) -> Tensor:
        return self.mbatch[1]

    @property
    def mb_task_id(self) -> Tensor:
        return self.mbatch[2]

    def forward(self) -> Any:
        output = forward_with_tasks(self.forward_module, self.mb_x, self.mb_task_id)
        if not self.is_training:
            output = _cover_classes(output, self.experience)
        return output

    def criterion(self) -> Tensor:
        return self._criterion(self.mb_output, self.mb_y)


def _cover_classes(output: Tensor, experience: Any) -> Tensor:
    """Pad the scores of a model that has not grown to an evaluated experience's classes
    yet, so its loss is defined and those samples count as errors."""
    needed = max(getattr(experience, "classes_in_this_experience", ()), default=-1) + 1
    if output.dim() != 2 or needed <= output.shape[1]:
        return output
    padding = output.new_full((len(output), needed - output.shape[1]), -1e4)
    return torch.cat((output, padding), dim=1)
