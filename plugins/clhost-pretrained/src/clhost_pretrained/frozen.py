"""Classifiers fitted in closed form on the features of a frozen pretrained backbone
(SimpleCIL's prototypes, RanPAC's ridge regression): the model, and the training loop
that fits instead of stepping an optimizer."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clhost import distributed
from clhost.data import Experience, experience_data
from clhost.errors import ParameterError
from clhost.evaluation.efficiency import count_pass
from clhost.models import DynamicModule
from clhost.templates import FittingTemplate
from clhost.templates.declared import declare_plugin_strategy
from clhost.validate import boolean, non_negative_int, number
from clhost_pretrained import inputs
from clhost_pretrained.backbone import (
    DEFAULT_MODEL_NAME,
    autocast,
    create_backbone,
    features,
    freeze,
    prepare_input,
)
from clhost_pretrained.cli import small_vit, vit
from clhost_pretrained.petl import SSF, average_gradients, start_alike

ADAPT_WEIGHT_DECAY = 5e-4  # RanPAC's published first-session settings


class ClosedFormClassifier(nn.Module):
    """A classifier on features whose statistics are float64 buffers, fitted from
    minibatches without gradients. Subclasses size their buffers in ``resize`` and
    implement ``fit`` and ``forward``, and name in ``statistics`` the buffers ``fit`` adds
    to (sums over samples): under DDP each rank fits its share of the data and these are
    summed over ranks after each epoch."""

    num_features: int = 0
    num_classes: int = 0
    statistics: tuple[str, ...] = ()

    def resize(self, num_features: int, num_classes: int) -> None:
        """Take the feature size (fixed once known) and grow to ``num_classes``."""
        raise NotImplementedError

    def fit(self, features: Tensor, targets: Tensor) -> None:
        raise NotImplementedError

    def training_scores(self, features: Tensor) -> Tensor:
        """The scores the training metrics see, before ``fit``: the current ones unless a
        classifier says otherwise (one costly to solve after every minibatch)."""
        return self(features)


def grown(tensor: Tensor, rows: int, dim: int = 0) -> Tensor:
    """``tensor`` with zeros appended along ``dim`` up to ``rows`` (unchanged if longer)."""
    extra = rows - tensor.shape[dim]
    if extra <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = extra
    return torch.cat((tensor, tensor.new_zeros(shape)), dim=dim)


class FrozenFeatureModel(DynamicModule):
    """``backbone`` (frozen, in eval mode) and a ``ClosedFormClassifier`` on its
    pre-logits features. Before each experience the classifier grows to its classes; the
    feature size is measured on one sample the first time. ``bf16`` runs the backbone
    under bf16 autocast, ``channels_last`` gives it channels-last images; the features
    reach the classifier in float32. With ``adapt`` the backbone gets SSF scales and
    shifts (``petl.SSF``, ``adapter``), trained by the template's first-session
    adaptation and frozen (no gradient) otherwise."""

    def __init__(
        self,
        backbone: nn.Module,
        classifier: ClosedFormClassifier,
        *,
        bf16: bool = False,
        channels_last: bool = False,
        adapt: bool = False,
    ):
        super().__init__()
        self.backbone = freeze(backbone)
        self.classifier = classifier
        self.adapter = SSF(self.backbone).requires_grad_(False) if adapt else None
        self.bf16 = boolean("bf16", bf16)
        self.channels_last = boolean("channels_last", channels_last)
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> FrozenFeatureModel:
        super().train(mode)
        self.backbone.eval()
        return self

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        return self.features_with_grad(x)

    def features_with_grad(self, x: Tensor) -> Tensor:
        """``features`` with autograd on, for the adapter's training. Each is a pass of
        the model over ``x``, for the cost meter (``count_pass``)."""
        with autocast(x.device, self.bf16):
            found = features(self.backbone, prepare_input(x, self.channels_last)).float()
        return count_pass(self, found)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

    def adaptation(self, experience: Experience) -> None:
        num_features = self.classifier.num_features
        if num_features == 0:
            x = experience_data(experience)[0][0]
            device = next(self.parameters(), torch.empty(0)).device
            num_features = self.features(torch.as_tensor(x)[None].to(device)).shape[1]
        needed = max(experience.classes_in_this_experience, default=-1) + 1
        self.classifier.resize(num_features, max(needed, self.classifier.num_classes))


def build_backbone(
    model: nn.Module | None,
    model_name: str,
    pretrained: bool,
    pretrained_path: str | None,
    resize: bool = False,
    **model_kwargs: Any,
) -> nn.Module:
    """``model`` if given, else the timm model ``model_name`` (weights from
    ``pretrained_path``; ``model_kwargs`` go to timm); with ``resize``, resizing and
    normalising its input batches on its device (``inputs.resize_inputs``)."""
    if model is None:
        model = create_backbone(
            model_name, pretrained=pretrained, pretrained_path=pretrained_path, **model_kwargs
        )
    elif not isinstance(model, nn.Module):
        raise ParameterError(f"model must be a torch.nn.Module, got {model!r}")
    if boolean("resize_inputs", resize):
        inputs.resize_inputs(model)
    return model


class FrozenFeatureTemplate(FittingTemplate):
    """One pass per epoch over each experience, fitting a closed-form classifier on the
    frozen backbone's features; no optimizer, no backpropagation.

    A method is declared from its classifier: ``class RanPAC(FrozenFeatureTemplate,
    classifier=RandomProjectionRidge)`` takes the classifier's parameters and this
    template's, with the real signature. The backbone is ``model`` if given (any module;
    a timm model gives its pre-logits feature), else the timm model ``model_name`` with
    weights from ``pretrained_path`` when ``pretrained`` (never downloaded);
    ``resize_inputs`` makes it resize and normalise each minibatch on the device to its
    pretrained input (``clhost_pretrained.inputs``).

    With ``adapt_epochs`` > 0 the first experience starts with a first-session adaptation
    (RanPAC's Phase 1): SSF scales and shifts on the backbone and a linear head on the
    experience's classes are trained by cross-entropy for ``adapt_epochs`` epochs (SGD,
    momentum 0.9, weight decay 5e-4, ``adapt_lr`` annealed to 0 by a cosine), then frozen
    for good and the head dropped; only then are the classifier's statistics fitted, the
    first experience's included. A method may change these keywords' defaults (``defaults=``
    next to ``classifier=``).

    Each minibatch is scored before it is fitted, so the training metrics are those of
    samples not yet learned; ``criterion`` only measures the loss. The classifier's statistics
    are buffers of ``strategy.model``, so checkpoints hold them. Under DDP each rank fits
    its share of each epoch's minibatches, then the statistics are summed over ranks.
    """

    distributed = distributed.REPLICATED  # the classifier's statistics summed over ranks
    models = {"vit": vit}  # clhost run --model vit:model_name=...,pretrained_path=...
    default_model = small_vit  # without --model: a small random ViT, to try it offline
    model: FrozenFeatureModel

    def __init_subclass__(
        cls,
        classifier: type[ClosedFormClassifier] | None = None,
        defaults: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if classifier is not None:
            declare_plugin_strategy(cls, classifier, defaults=defaults, as_argument=True)

    def __init__(
        self,
        classifier: ClosedFormClassifier,
        /,
        *,
        model: nn.Module | None = None,
        model_name: str = DEFAULT_MODEL_NAME,
        pretrained: bool = True,
        pretrained_path: str | None = None,
        resize_inputs: bool = False,
        adapt_epochs: int = 0,
        adapt_lr: float = 0.01,
        bf16: bool = False,
        channels_last: bool = False,
        **template: Any,
    ):
        backbone = build_backbone(model, model_name, pretrained, pretrained_path, resize_inputs)
        self.adapt_epochs = non_negative_int("adapt_epochs", adapt_epochs)
        self.adapt_lr = number("adapt_lr", adapt_lr, low=0, low_open=True)
        frozen = FrozenFeatureModel(
            backbone, classifier, bf16=bf16, channels_last=channels_last, adapt=adapt_epochs > 0
        )
        super().__init__(frozen, **template)

    def training_epoch(self) -> None:
        """The first time, adapt the backbone (``adapt_epochs``); then score and fit each
        minibatch, the classifier's statistics summed over ranks."""
        model = self.model
        if model.adapter is not None and not model.adapter.done:
            self._adapt_first_session(model.adapter)
        with _summed_over_ranks(model.classifier):
            super().training_epoch()

    def minibatch_features(self) -> Tensor:
        return self.model.features(self.mb_x)

    def training_scores(self, features: Tensor) -> Tensor:
        return self.model.classifier.training_scores(features)

    def fit(self, features: Tensor, targets: Tensor) -> None:
        self.model.classifier.fit(features, targets)

    def _adapt_first_session(self, adapter: SSF) -> None:
        """RanPAC's Phase 1: the SSF parameters and a linear head on the experience's
        classes trained by cross-entropy over ``adapt_epochs`` passes of its
        minibatches; then the parameters are frozen and the head dropped. Under
        distributed training the ranks start alike and average their gradients, as DDP
        would. Plugins see no event of it: it prepares the backbone, it is not the
        method's training."""
        model = self.model
        classifier = model.classifier
        head = nn.Linear(classifier.num_features, classifier.num_classes).to(self.device)
        parameters = [*adapter.parameters(), *head.parameters()]
        start_alike(head.parameters())
        optimizer = torch.optim.SGD(
            parameters, lr=self.adapt_lr, momentum=0.9, weight_decay=ADAPT_WEIGHT_DECAY
        )
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.adapt_epochs)
        adapter.requires_grad_(True)
        try:
            for _ in range(self.adapt_epochs):
                for batch in self.dataloader:
                    x, y = self._to_device(batch)[:2]
                    optimizer.zero_grad(set_to_none=True)
                    F.cross_entropy(head(model.features_with_grad(x)), y).backward()
                    average_gradients(parameters)
                    optimizer.step()
                schedule.step()
        finally:
            adapter.requires_grad_(False)
        adapter.done.fill_(True)


@contextmanager
def _summed_over_ranks(classifier: ClosedFormClassifier) -> Iterator[None]:
    """What each rank adds to ``classifier.statistics`` inside the block, summed over
    ranks: every rank ends with the statistics of every rank's minibatches."""
    if distributed.world_size() == 1:
        yield
        return
    before = {name: getattr(classifier, name).clone() for name in classifier.statistics}
    yield
    for name, start in before.items():
        now = getattr(classifier, name)
        now.copy_(start + distributed.all_reduce_sum(now - start))
