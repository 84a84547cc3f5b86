"""Losses that regularize the model against what it learnt on earlier experiences.

A ``RegularizationMethod`` (Avalanche's name) is a loss term plus the hooks that keep it
up to date, so one object serves every use:

- as a plugin (``plugins=[method]``) it adds its term to the loss by itself
  (``clhost_loss_terms``) and refreshes what it compares against after every experience
  (``clhost_after_training_exp``);
- as a strategy's criterion (``criterion=method``, ``clhost run --loss NAME``) it is
  called as ``method(output, targets)`` and returns the cross-entropy, while the same
  hooks add its term: the strategy registers a criterion that has hooks as a plugin;
- composed inside another method it is called as Avalanche's
  ``term = method(mb_x, mb_pred, model)``, with ``update(strategy)`` after each
  experience.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from typing import Any, overload

import torch.nn.functional as F
from torch import Tensor, nn

from clhost import validate
from clhost._markers import hookimpl
from clhost.errors import CheckpointError, ParameterError
from clhost.plugin import SupervisedPlugin


class RegularizationMethod(SupervisedPlugin):
    """A loss term against a previous state of the model, updated after each experience.

    Subclasses implement ``penalty`` (the term for one minibatch; zero while there is
    nothing to compare against) and ``update`` (remember what the finished experience
    taught), and name their term with ``term_name`` so it is logged under that name.
    """

    term_name: str = "regularization"

    @overload
    def __call__(self, output: Tensor, targets: Tensor, /) -> Tensor: ...
    @overload
    def __call__(self, mb_x: Tensor, mb_pred: Tensor, model: nn.Module, /) -> Tensor: ...
    def __call__(self, *args: Any) -> Tensor:
        """``(mb_x, mb_pred, model)``: the term. ``(output, targets)``: the criterion's
        cross-entropy (the term is added by ``clhost_loss_terms``, never twice)."""
        if len(args) == 3:
            return self.penalty(*args)
        if len(args) == 2:
            return F.cross_entropy(*args)
        raise TypeError(
            f"{type(self).__name__} is called as (mb_x, mb_pred, model) for its term or as "
            f"(output, targets) as a criterion; got {len(args)} arguments"
        )

    def penalty(self, mb_x: Tensor, mb_pred: Tensor, model: nn.Module) -> Tensor:
        """The term for inputs ``mb_x`` on which ``model`` predicted ``mb_pred``."""
        raise NotImplementedError

    def update(self, strategy: Any) -> None:
        """Remember ``strategy.model`` and ``strategy.experience`` after training on it."""
        raise NotImplementedError

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> tuple[str, Tensor]:
        return self.term_name, self.penalty(strategy.mb_x, strategy.mb_output, strategy.model)

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        self.update(strategy)


class PreviousModel:
    """A frozen copy of the model as it was after the last experience.

    Its checkpoint state is the copy's ``state_dict``. A loaded state is kept until a model
    of the same architecture is at hand (``module(model)``): the copy is rebuilt from that
    model's structure, so restoring needs nothing but tensors.
    """

    def __init__(self) -> None:
        self._module: nn.Module | None = None
        self._pending: dict[str, Tensor] | None = None

    def remember(self, model: nn.Module) -> None:
        self._module, self._pending = frozen_copy(model), None

    def module(self, model: nn.Module) -> nn.Module | None:
        """The frozen copy (``None`` before the first experience), rebuilt from ``model``'s
        architecture after a state was loaded."""
        if self._pending is not None:
            copy = frozen_copy(model)
            try:
                copy.load_state_dict(self._pending)
            except RuntimeError as error:
                raise CheckpointError(
                    "the stored previous model does not fit the model's architecture; load "
                    f"the checkpoint into the model it was saved from ({error})"
                ) from None
            self._module, self._pending = copy, None
        return self._module

    def state_dict(self) -> dict[str, Tensor] | None:
        if self._pending is not None:
            return dict(self._pending)
        return None if self._module is None else dict(self._module.state_dict())

    def load_state_dict(self, state: dict[str, Tensor] | None) -> None:
        if state is not None and not isinstance(state, dict):
            raise CheckpointError(f"a previous model's state is a dict, got {type(state)}")
        self._module, self._pending = None, state


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode with no parameter requiring gradients."""
    copy = deepcopy(model)
    copy.eval()
    copy.requires_grad_(False)
    return copy


class ExperienceWeights:
    """A non-negative weight given as one number or as one number per experience.

    Methods like LwF and LFL take either; ``at(i)`` is the weight while training
    experience ``i``, and a schedule too short for the stream is a clear error.
    """

    def __init__(self, name: str, value: float | Sequence[float]):
        self.per_experience = isinstance(value, Sequence) and not isinstance(value, str)
        if not self.per_experience:
            self._values = [validate.number(name, value, low=0)]
        elif not value:
            raise ParameterError(
                f"{name} must be a non-negative number or a non-empty list of them, got {value!r}"
            )
        else:  # each weight named by its experience: lambda_e[2]
            self._values = [
                validate.number(f"{name}[{i}]", v, low=0)
                for i, v in enumerate(value)  # type: ignore[arg-type]
            ]
        self.name = name

    def at(self, experience: int) -> float:
        if not self.per_experience:
            return self._values[0]
        if experience >= len(self._values):
            raise ParameterError(
                f"{self.name} lists {len(self._values)} weights but experience {experience} "
                "is being trained; give one weight per experience"
            )
        return self._values[experience]
