"""SCRPlugin: reservoir replay in two views, the contrastive loss, and NCM evaluation."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import TensorData
from clhost.errors import PluginCompositionError
from clhost.models import NCMClassifier
from clhost.models.ncm import UNKNOWN_CLASS_MARGIN
from clhost.plugin import SupervisedPlugin
from clhost.validate import positive_int
from clhost_buffer_reservoir import ReservoirSamplingBuffer
from clhost_loss_scr import SCRLoss
from clhost_scr.augment import Augmentation, AugmentationName, make_augmentations
from clhost_scr.model import SCRModel


class SCRPlugin(SupervisedPlugin):
    """Supervised Contrastive Replay (Mai et al., 2021, "Supervised Contrastive Replay:
    Revisiting the Nearest Class Mean Classifier in Online Class-Incremental Continual
    Learning").

    Each training minibatch is joined by up to ``batch_size_mem`` samples drawn from a
    reservoir memory of ``mem_size`` samples, and the joined batch is doubled with an
    augmented copy (``augmentations``): the model (an ``SCRModel``) sees both views, and
    ``criterion`` compares their projections with ``SCRLoss(temperature)``. The memory
    takes each incoming minibatch once (on its first pass in the online template).

    At evaluation the model gives normalised features and the plugin replaces them with
    the scores of an ``NCMClassifier`` over the class means of the memory's features,
    computed before each evaluation that follows training; the evaluation loss is the
    cross-entropy of those scores. The strategy's criterion must be ``self.criterion``
    (the ``SCR`` strategy sets it); training metrics compare labels with embeddings and
    mean nothing.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "scr"
    distributed = "unsupported"
    distributed_reason = (
        "its contrastive loss compares every pair of samples of the joined minibatch and its "
        "memory takes each incoming minibatch: each rank would see only its own part (the "
        "features and samples are not gathered over ranks yet)"
    )
    state_components = ("memory",)

    def __init__(
        self,
        augmentations: AugmentationName | Augmentation = "auto",
        mem_size: int = 100,
        batch_size_mem: int = 100,
        temperature: float = 0.1,
    ):
        self.augment = make_augmentations(augmentations)
        self.memory = ReservoirSamplingBuffer(positive_int("mem_size", mem_size))
        self.batch_size_mem = positive_int("batch_size_mem", batch_size_mem)
        self.loss = SCRLoss(temperature=temperature)
        self.classifier = NCMClassifier(normalize=True)
        self._means_stale, self._has_means = True, False
        self._incoming: TensorData | None = None
        self._n_joined = 0
        self._training, self._loss_computed = False, False

    # -- training ---------------------------------------------------------------------

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        _require_scr_model(strategy)

    @hookimpl
    def clhost_before_training_iteration(self, strategy: Any) -> None:
        x, y, t = strategy.mbatch[:3]
        if getattr(strategy, "train_pass", 0) == 0:
            self._incoming = TensorData(x, y, t)
        held = self.memory.buffer
        if len(held):
            replay = held.subset(torch.randperm(len(held))[: self.batch_size_mem])
            x, y, t = (
                torch.cat((mine, stored.to(mine.device)))
                for mine, stored in zip((x, y, t), (replay.x, replay.y, replay.t), strict=True)
            )
        self._n_joined = len(y)
        strategy.mbatch = (torch.cat((x, self.augment(x))), y.repeat(2), t.repeat(2))

    @hookimpl
    def clhost_before_forward(self) -> None:
        self._training, self._loss_computed = True, False

    def criterion(self, output: Tensor, targets: Tensor) -> Tensor:
        """In training, ``SCRLoss`` over the two views of the joined batch; in evaluation,
        the cross-entropy of the nearest-class-mean scores."""
        if not self._training:
            return F.cross_entropy(output, targets)
        self._loss_computed = True
        n = self._n_joined
        views = output.reshape(2, n, -1).transpose(0, 1)
        return self.loss(views, targets[:n])

    @hookimpl
    def clhost_before_backward(self) -> None:
        if not self._loss_computed:
            raise PluginCompositionError(
                "SCRPlugin trains with its own loss: build the strategy with "
                "criterion=plugin.criterion (the SCR strategy does)"
            )

    @hookimpl
    def clhost_after_training_iteration(self) -> None:
        if self._incoming is not None:
            self.memory.update_from_data(self._incoming)
            self._incoming = None
        self._means_stale = True  # the model changed, and maybe the memory

    # -- evaluation -------------------------------------------------------------------

    @hookimpl
    def clhost_before_eval(self, strategy: Any) -> None:
        model = _require_scr_model(strategy)
        if self._means_stale:
            self.refresh_class_means(model, strategy.device, strategy.eval_mb_size)

    @hookimpl
    def clhost_before_eval_forward(self) -> None:
        self._training = False

    @hookimpl
    def clhost_after_eval_forward(self, strategy: Any) -> None:
        features, needed = strategy.mb_output, _classes_needed(strategy.experience)
        if not self._has_means:  # nothing stored yet: every class is as likely
            strategy.mb_output = features.new_zeros(len(features), max(needed, 1))
            return
        # A template pads outputs narrower than the experience's classes with columns at
        # the end (SupervisedTemplate's ``_cover_classes``): the features come first.
        scores = self.classifier(features[:, : self.classifier.class_means.shape[1]])
        if needed > scores.shape[1]:  # classes without a mean score far below the lowest
            lowest = scores.amin(dim=1, keepdim=True) - UNKNOWN_CLASS_MARGIN
            scores = torch.cat((scores, lowest.expand(-1, needed - scores.shape[1])), dim=1)
        strategy.mb_output = scores

    @torch.no_grad()
    def refresh_class_means(self, model: SCRModel, device: Any, batch_size: int) -> None:
        """Set the classifier's means to the mean normalised feature of each class in
        memory, computed with ``model`` as it is now."""
        held = self.memory.buffer
        self._means_stale = False
        self._has_means = len(held) > 0
        if not self._has_means:
            self.classifier.replace_class_means_dict({})
            return
        features = torch.cat([model.embed(chunk.to(device)) for chunk in held.x.split(batch_size)])
        labels = held.y.to(device)
        classes = torch.unique(labels)
        sums = features.new_zeros(len(classes), features.shape[1])
        slot = torch.searchsorted(classes, labels)
        sums.index_add_(0, slot, features)
        counts = torch.bincount(slot, minlength=len(classes)).unsqueeze(1)
        means = sums / counts
        self.classifier.replace_class_means_dict(
            dict(zip(classes.tolist(), means.unbind(), strict=True))
        )

    # -- state ------------------------------------------------------------------------

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._means_stale = True  # recomputed from the memory before the next evaluation


def _require_scr_model(strategy: Any) -> SCRModel:
    model = strategy.model
    if not isinstance(model, SCRModel):
        raise PluginCompositionError(
            f"SCRPlugin needs an SCRModel (feature extractor + projection head), got "
            f"{type(model).__name__}; wrap it with SCRModel.from_model(model)"
        )
    return model


def _classes_needed(experience: Any) -> int:
    """How many score columns cover every class of the evaluated experience."""
    return max(getattr(experience, "classes_in_this_experience", ()), default=-1) + 1
