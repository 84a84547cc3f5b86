"""LFL as a training plugin: a pull towards the previous model's features, old units frozen."""

from __future__ import annotations

from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from clhost import hookimpl, validate
from clhost.importance import require_keys
from clhost.plugin import SupervisedPlugin
from clhost.regularization import ExperienceWeights, PreviousModel
from clhost.rehearsal import experience_tensors
from clhost_lfl.features import FeatureSite

PROBE_SIZE = 64  # samples of an experience that show which classifier layers it reaches

Freeze = Literal["learnt_units", "last_layer"]
Consolidate = Literal["experience", "piece"]
STATE_KEYS = ("previous_model", "learnt_units", "units_in_progress", "experiences_seen")


class LFLPlugin(SupervisedPlugin):
    """Less-Forgetful Learning (Jung, Ju, Jung & Kim, 2016).

    The paper keeps the old decision boundaries by freezing the classifier of the copied
    network, and keeps the feature space by adding ``lambda_e * L_e`` to the loss, where
    ``L_e = 1/2 ||f_old(x) - f_new(x)||^2`` (averaged over the minibatch) compares the
    penultimate features of the previous and current model on the current inputs.

    Choices for streams the paper did not consider, where the classifier grows: only the
    output units of classes a classifier layer has already learnt are frozen (in every
    later experience, restored after each optimizer step, so no optimizer can move them),
    and new units train freely. In a domain-incremental stream every class is learnt in
    the first experience, so the whole last layer is frozen, as in the paper. Which
    layer serves which classes is observed, not assumed: after each experience a few of
    its samples are passed through the model and the classifier layers they reach are
    noted, so each head of a multi-head model freezes only the units of its own tasks.
    ``lambda_e`` is one number or one per experience; the term is zero on the first.
    With ``freeze="last_layer"`` every unit of the classifier layers is frozen once the
    first experience is learnt, as the paper (new domains, no new classes) and
    Avalanche do: in a class-incremental stream the units of classes not seen yet then
    keep their initial weights and only the features learn to reach them.
    The pieces of an online stream (``split_online``) are consolidated together when the
    last piece of the experience they were cut from ends (``consolidate="experience"``):
    freezing the units a 10-sample piece touched would stop its classes from being
    learnt. ``consolidate="piece"`` consolidates after every piece instead, as a learner
    that is not told where experiences end must (and Avalanche does); a list
    ``lambda_e`` is still indexed by experience.
    """

    state_key = "lfl"
    distributed = "replicated"  # the previous model and frozen units: the same on every rank

    def __init__(
        self,
        lambda_e: float | list[float] = 0.1,
        freeze: Freeze = "learnt_units",
        consolidate: Consolidate = "experience",
    ):
        self.freeze = validate.one_of("freeze", freeze, get_args(Freeze))
        self.consolidate = validate.one_of("consolidate", consolidate, get_args(Consolidate))
        self.lambda_e = ExperienceWeights("lambda_e", lambda_e)
        self.previous_model = PreviousModel()
        self.learnt_units: dict[str, tuple[int, ...]] = {}
        self.units_in_progress: dict[str, tuple[int, ...]] = {}
        self.experiences_seen = 0
        self._site: FeatureSite | None = None
        self._has_previous = False
        self._frozen: list[tuple[Tensor, Tensor, Tensor]] = []
        self._features: list[Tensor] = []
        self._recording: RemovableHandle | None = None

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        # A loaded copy is rebuilt before the model grows for the next experience.
        self.previous_model.module(strategy.model)

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        model = strategy.model
        self._site = FeatureSite(model)
        previous = self.previous_model.module(model)
        self._has_previous = previous is not None
        self._frozen = [] if previous is None else self._frozen_rows(model, previous)

    def _frozen_rows(
        self, model: nn.Module, previous: nn.Module
    ) -> list[tuple[Tensor, Tensor, Tensor]]:
        """(parameter, values to keep, units) for the learnt units of each classifier."""
        frozen = []
        for name, classes in self.learnt_units.items():
            layer, old = model.get_submodule(name), previous.get_submodule(name)
            assert isinstance(layer, nn.Linear) and isinstance(old, nn.Linear)
            if self.freeze == "last_layer":
                classes = tuple(range(old.out_features))
            learnt = [c for c in classes if c < old.out_features]
            units = torch.tensor(learnt, dtype=torch.long, device=layer.weight.device)
            pairs = [(layer.weight, old.weight), (layer.bias, old.bias)]
            for param, old_param in pairs:
                if param is not None and old_param is not None:
                    frozen.append((param, old_param.index_select(0, units), units))
        return frozen

    @hookimpl
    def clhost_before_forward(self, strategy: Any) -> None:
        if self._has_previous and self._site is not None:
            self._features.clear()
            self._recording = self._site.record(strategy.model, self._features)

    @hookimpl
    def clhost_after_forward(self) -> None:
        if self._recording is not None:
            self._recording.remove()
            self._recording = None

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> tuple[str, Tensor]:
        weight = self.lambda_e.at(self.experiences_seen)
        previous = self.previous_model.module(strategy.model)
        if previous is None or weight == 0 or self._site is None:
            return "lfl", strategy.mb_output.new_zeros(())
        if not self._features:
            raise RuntimeError(f"LFL saw no features at {self._site.path} in the forward pass")
        features = self._features[-1]
        with torch.no_grad():
            old_features = self._site.compute(previous, strategy.mb_x, strategy.mb_task_id)
        distance = (features - old_features).flatten(1).pow(2).sum(1).mean()
        return "lfl", weight * 0.5 * distance

    @hookimpl
    def clhost_after_update(self) -> None:
        with torch.no_grad():
            for param, kept, units in self._frozen:
                param.index_copy_(0, units, kept)

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        data = experience_tensors(strategy.experience)
        classes = data.classes
        site = self._site or FeatureSite(strategy.model)
        probe = data.subset(torch.arange(min(len(data), PROBE_SIZE))).to(strategy.device)
        for name in site.classifier_layers_reached(strategy.model, probe.x, probe.t):
            learning = self.units_in_progress.get(name, ())
            self.units_in_progress[name] = tuple(sorted({*learning, *classes}))
        last_piece = strategy.experience.is_last_subexp
        if not last_piece and self.consolidate == "experience":
            return  # an online piece: consolidate once the experience it came from ends
        for name, units in self.units_in_progress.items():
            self.learnt_units[name] = tuple(sorted({*self.learnt_units.get(name, ()), *units}))
        self.units_in_progress = {}
        self.previous_model.remember(strategy.model)
        self.experiences_seen += last_piece
        self._frozen = []

    def state_dict(self) -> dict[str, Any]:
        return {
            "previous_model": self.previous_model.state_dict(),
            "learnt_units": _lists(self.learnt_units),
            "units_in_progress": _lists(self.units_in_progress),
            "experiences_seen": self.experiences_seen,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        require_keys(state, STATE_KEYS, "LFLPlugin")
        self.previous_model.load_state_dict(state["previous_model"])
        self.learnt_units = _tuples(state["learnt_units"])
        self.units_in_progress = _tuples(state["units_in_progress"])
        self.experiences_seen = int(state["experiences_seen"])
        self._frozen = []


def _lists(units: dict[str, tuple[int, ...]]) -> dict[str, list[int]]:
    return {name: list(values) for name, values in units.items()}


def _tuples(units: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(int(value) for value in values) for name, values in units.items()}
