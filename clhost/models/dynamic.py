"""Models that grow with the stream: incremental and multi-head classifiers."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from clhost.data import Experience


class DynamicModule(nn.Module):
    """A module that changes its structure for each new training experience."""

    def adaptation(self, experience: Experience) -> None:
        """Grow for ``experience``; called by the template before its optimizer is refreshed."""
        raise NotImplementedError


class MultiTaskModule(nn.Module):
    """A model whose forward pass also takes the task label of each sample.

    Subclasses implement ``forward_single_task`` (or ``forward`` itself). ``forward``
    splits a minibatch mixing tasks by task; outputs narrower than the widest are padded
    with the lowest finite value, which no argmax picks and no softmax weighs.
    """

    def forward(self, x: Tensor, task_labels: Tensor) -> Tensor:
        tasks = torch.unique(task_labels)
        if len(tasks) == 1:
            return self.forward_single_task(x, int(tasks[0]))
        masks = [task_labels == task for task in tasks]
        parts = [self.forward_single_task(x[m], int(t)) for m, t in zip(masks, tasks, strict=True)]
        width = max(part.shape[1] for part in parts)
        out = parts[0].new_full((len(x), width), torch.finfo(parts[0].dtype).min)
        for mask, part in zip(masks, parts, strict=True):
            out[mask, : part.shape[1]] = part
        return out

    def forward_single_task(self, x: Tensor, task: int) -> Tensor:
        """The output for ``x``, whose samples all have task label ``task``."""
        raise NotImplementedError


def forward_with_tasks(model: nn.Module, x: Tensor, task_labels: Tensor) -> Tensor:
    """``model``'s output for ``x``, passing the task labels only to multi-task models
    (also when ``model`` is one inside ``DistributedDataParallel``)."""
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    if isinstance(inner, MultiTaskModule):
        return model(x, task_labels)
    return model(x)


def adapt_model(model: nn.Module, experience: Experience) -> None:
    """Adapt every dynamic submodule of ``model`` to ``experience`` (parents first)."""
    for module in list(model.modules()):
        if isinstance(module, DynamicModule):
            module.adaptation(experience)


class IncrementalClassifier(DynamicModule):
    """A linear classifier whose output units grow to cover every class seen so far.

    Units of known classes keep their weights; new units start at PyTorch's default init.
    """

    def __init__(self, in_features: int, initial_out_features: int = 2):
        super().__init__()
        self.classifier = nn.Linear(in_features, initial_out_features)

    @property
    def out_features(self) -> int:
        return self.classifier.out_features

    def adaptation(self, experience: Experience) -> None:
        classes = experience.classes_seen_so_far or experience.classes_in_this_experience
        needed = max(classes, default=-1) + 1
        if needed > self.out_features:
            self.classifier = grown_linear(self.classifier, needed)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(x)


class MultiHeadClassifier(MultiTaskModule, DynamicModule):
    """One linear head per task label; a head grows if its task brings new classes.

    A minibatch mixing tasks is split by task (``MultiTaskModule.forward``). Evaluating a
    task no experience has trained yet (the baseline of forward transfer, a test stream
    ahead of training) gives all-zero scores, as no head carries information about it;
    evaluation never changes the model. Training such a task without adapting first is
    an error.
    """

    def __init__(self, in_features: int, initial_out_features: int = 2):
        super().__init__()
        self.in_features, self.initial_out_features = in_features, initial_out_features
        self.heads = nn.ModuleDict()

    def adaptation(self, experience: Experience) -> None:
        needed = max(experience.classes_in_this_experience, default=-1) + 1
        for task in experience.task_labels:
            key = str(int(task))
            if key not in self.heads:
                self.heads[key] = nn.Linear(
                    self.in_features, max(needed, self.initial_out_features)
                )
            elif needed > self.head(task).out_features:
                self.heads[key] = grown_linear(self.head(task), needed)

    def head(self, task: int) -> nn.Linear:
        key = str(int(task))
        if key not in self.heads:
            raise KeyError(f"no head for task {task}; known tasks: {sorted(self.heads)}")
        return cast(nn.Linear, self.heads[key])

    def forward_single_task(self, x: Tensor, task: int) -> Tensor:
        if not self.training and str(int(task)) not in self.heads:
            return x.new_zeros(len(x), self.initial_out_features)
        return self.head(task)(x)


def grown_linear(old: nn.Linear, out_features: int) -> nn.Linear:
    """A copy of ``old`` with ``out_features`` output units: the old units keep their
    weights, new ones start at PyTorch's default initialisation."""
    new = nn.Linear(old.in_features, out_features).to(old.weight.device, old.weight.dtype)
    with torch.no_grad():
        new.weight[: old.out_features] = old.weight
        new.bias[: old.out_features] = old.bias
    return new
