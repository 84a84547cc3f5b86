"""Expert Gate's network: a frozen feature extractor, one autoencoder per task (the
gate) and one expert per task, chosen per sample by the autoencoder that reconstructs
the sample's features best."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clhost.data import Experience
from clhost.errors import ParameterError
from clhost.models import DynamicModule, freeze_modules, unfreeze
from clhost.validate import number, positive_int
from clhost_expert_gate.backbone import feature_body


class GateAutoencoder(nn.Module):
    """The paper's undercomplete autoencoder over the features of one task: an encoder
    ``Linear`` + ReLU down to ``latent_dim`` units, a decoder ``Linear`` + sigmoid back,
    trained to reconstruct the sigmoid of the features (values in (0, 1))."""

    def __init__(self, in_features: int, latent_dim: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_features, latent_dim), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(latent_dim, in_features), nn.Sigmoid())

    def forward(self, codes: Tensor) -> Tensor:
        return self.decoder(self.encoder(codes))

    def errors(self, codes: Tensor) -> Tensor:
        """The reconstruction error of each sample: its squared distance to its
        reconstruction (summed over features, as Avalanche's ``AE_loss``)."""
        return (self(codes) - codes).pow(2).sum(dim=1)


class Expert(nn.Module):
    """One task's classifier: a copy of the backbone's body and a linear ``head`` over all
    ``num_classes`` units, of which the task's own (``own``) are read. ``old_head`` holds
    the head of the expert it was initialised from when it learns with LwF
    (``teacher`` >= 0, that expert's index; -1 otherwise): the distilled outputs."""

    own: Tensor
    teacher: Tensor

    def __init__(self, body: nn.Module, width: int, num_classes: int, own: Tensor):
        super().__init__()
        self.body = body
        self.head = nn.Linear(width, num_classes)
        self.old_head = nn.Linear(width, num_classes)
        self.register_buffer("own", own)
        self.register_buffer("teacher", torch.tensor(-1))

    def forward(self, x: Tensor) -> Tensor:
        """The head's scores, units of other tasks' classes at the lowest finite value
        (no argmax picks them, no softmax weighs them)."""
        return masked(self.head(self.body(x)), self.own)


def masked(logits: Tensor, keep: Tensor) -> Tensor:
    """``logits`` with the units not in the boolean mask ``keep`` set to the lowest value."""
    return logits.masked_fill(~keep, torch.finfo(logits.dtype).min)


class ExpertGate(DynamicModule):
    """Expert Gate (Aljundi, Chakravarty and Tuytelaars, CVPR 2017) as a growing model.

    ``backbone`` is a torchvision model name (built with random weights, then
    ``pretrained_weights`` loaded from a local file if given; nothing is downloaded), any
    ``nn.Module`` classifier, or ``None`` for an MLP with one hidden layer of
    ``hidden_size`` units over ``in_features`` inputs. Its last linear layer is removed:
    what remains (the body) gives the features. Flat inputs are viewed as images of
    ``input_shape`` (a single channel repeated to the three of a torchvision backbone).

    A frozen copy of the body extracts the gate's features. Every training experience adds
    a ``GateAutoencoder`` (``ae_latent_dim`` units) and an ``Expert`` (a trainable copy of
    the body and a head of ``num_classes`` units, of which the experience's classes are
    read); ``ExpertGatePlugin`` trains the autoencoder and initialises the expert from the
    most related earlier one. In training mode the newest expert answers; in evaluation
    each sample goes to the expert whose autoencoder reconstructs its features best (the
    largest softmax of minus the errors over ``temp``), so no task label is needed.
    """

    def __init__(
        self,
        backbone: str | nn.Module | None = None,
        pretrained_weights: str | Path | None = None,
        num_classes: int = 10,
        in_features: int = 64,
        hidden_size: int = 256,
        input_shape: tuple[int, ...] | None = None,
        ae_latent_dim: int = 100,
        temp: float = 2.0,
    ):
        super().__init__()
        self.num_classes = positive_int("num_classes", num_classes)
        self.ae_latent_dim = positive_int("ae_latent_dim", ae_latent_dim)
        self.temp = number("temp", temp, low=0.0, low_open=True)
        self.features, self.width = feature_body(
            backbone,
            pretrained_weights=pretrained_weights,
            num_classes=self.num_classes,
            in_features=positive_int("in_features", in_features),
            hidden_size=positive_int("hidden_size", hidden_size),
            input_shape=input_shape,
        )
        freeze_modules(self.features.modules())
        self.autoencoders = nn.ModuleList()
        self.experts = nn.ModuleList()
        self.distilled: Tensor | None = None  # the old head's scores of the last training pass

    def adaptation(self, experience: Experience) -> None:
        """Add the experience's autoencoder and expert (a copy of the pretrained body with
        fresh heads; the plugin trains the one and initialises the other). The template
        moves them to its device."""
        classes = list(experience.classes_in_this_experience)
        if max(classes, default=-1) >= self.num_classes:
            raise ParameterError(
                f"experience {experience.current_experience} has class {max(classes)} but "
                f"the ExpertGate model has num_classes={self.num_classes}"
            )
        own = torch.zeros(self.num_classes, dtype=torch.bool)
        own[classes] = True
        body = copy.deepcopy(self.features)
        unfreeze(body)
        self.experts.append(Expert(body, self.width, self.num_classes, own))
        self.autoencoders.append(GateAutoencoder(self.width, self.ae_latent_dim))

    def expert(self, index: int) -> Expert:
        return cast(Expert, self.experts[index])

    def autoencoder(self, index: int) -> GateAutoencoder:
        return cast(GateAutoencoder, self.autoencoders[index])

    def codes(self, x: Tensor) -> Tensor:
        """What the autoencoders reconstruct: the sigmoid of the frozen features."""
        with torch.no_grad():
            return torch.sigmoid(self.features(x).flatten(1))

    def gate(self, x: Tensor) -> Tensor:
        """Each sample's probability of belonging to each expert's task: a softmax over
        minus the autoencoders' reconstruction errors divided by ``temp``."""
        codes = self.codes(x)
        errors = torch.stack(
            [self.autoencoder(i).errors(codes) for i in range(len(self.autoencoders))], dim=1
        )
        return F.softmax(-errors / self.temp, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        if not self.experts:
            return x.new_zeros(len(x), self.num_classes)
        if self.training:
            return self._train_forward(x)
        choice = self.gate(x).argmax(dim=1)
        out: Tensor | None = None
        for index in torch.unique(choice).tolist():
            rows = choice == index
            scores = self.expert(index)(x[rows])
            if out is None:
                out = scores.new_empty(len(x), self.num_classes)
            out[rows] = scores
        assert out is not None
        return out

    def _train_forward(self, x: Tensor) -> Tensor:
        expert = self.expert(-1)
        features = expert.body(x)
        if int(expert.teacher) >= 0:
            self.distilled = expert.old_head(features)
        return masked(expert.head(features), expert.own)
