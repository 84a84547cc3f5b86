"""CoPEPlugin: evolving class prototypes, balanced replay, the PPP loss, and
nearest-prototype prediction."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import TensorData
from clhost.errors import CheckpointError, ParameterError, PluginCompositionError
from clhost.models.ncm import UNKNOWN_CLASS_MARGIN
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import first_sight
from clhost.validate import number, positive_int
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_cope.loss import PPPLoss
from clhost_cope.prototypes import ClassPrototypes


class CoPEPlugin(SupervisedPlugin):
    """Continual Prototype Evolution (De Lange & Tuytelaars, ICCV 2021, "Continual
    Prototype Evolution: Learning Online from Non-Stationary Data Streams").

    The model maps inputs to ``p_size`` features, L2-normalised by the plugin into an
    embedding. Each of the ``n_classes`` classes gets a prototype on the unit sphere when
    first seen. Every training minibatch is joined by as many samples drawn from a
    class-balanced memory of ``mem_size`` samples (shares shrink as classes arrive; the
    memory takes each incoming minibatch once), and the joined batch is trained with the
    pseudo-prototypical proxy loss (``PPPLoss(T)``). The embeddings of the joined batch
    are summed per class; every ``max_it_cnt`` iterations each summed class's prototype
    moves to ``normalize(alpha * p + (1 - alpha) * mean)`` (with ``train_passes`` updates
    per minibatch in the online template, ``max_it_cnt=train_passes`` updates them once
    per incoming minibatch, as in the paper).

    At evaluation the embeddings are scored by cosine similarity to every prototype over
    ``T`` (classes without a prototype far below), so the nearest prototype wins; the
    evaluation loss is the cross-entropy of these scores. The strategy's criterion must
    be ``self.criterion`` (the ``CoPE`` strategy sets it); training metrics compare
    labels with embeddings and mean nothing. Task labels are not used.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "cope"
    distributed = "unsupported"
    distributed_reason = (
        "its PPP loss and prototype updates use the samples of the whole joined minibatch "
        "together and its memory takes each incoming minibatch: each rank would see only its "
        "own part (not gathered over ranks yet)"
    )

    def __init__(
        self,
        mem_size: int = 200,
        n_classes: int = 10,
        p_size: int = 10,
        alpha: float = 0.99,
        T: float = 0.1,
        max_it_cnt: int = 1,
    ):
        self.mem_size = positive_int("mem_size", mem_size)
        self.n_classes = positive_int("n_classes", n_classes)
        self.p_size = positive_int("p_size", p_size)
        self.max_it_cnt = positive_int("max_it_cnt", max_it_cnt)
        self.alpha = number("alpha", alpha, low=0, high=1)
        self.T = float(T)  # PPPLoss checks it
        self.loss = PPPLoss(T)
        self.memory = ClassBalancedBuffer(mem_size, adaptive_size=True)
        self.prototypes = ClassPrototypes(n_classes, p_size, self.alpha)
        self.iterations = 0
        self._incoming: TensorData | None = None
        self._training, self._loss_computed = False, False

    # -- training ---------------------------------------------------------------------

    @hookimpl
    def clhost_after_train_dataset_adaptation(self, strategy: Any) -> None:
        self._check_classes(strategy.experience)

    @hookimpl
    def clhost_before_training_iteration(self, strategy: Any) -> None:
        x, y, t = strategy.mbatch[:3]
        if first_sight(strategy):
            self._incoming = TensorData(x, y, t)
        held = self.memory.buffer
        if len(held) == 0:
            return
        replay = held.subset(torch.randperm(len(held))[: len(y)])
        strategy.mbatch = tuple(
            torch.cat((mine, stored.to(mine.device)))
            for mine, stored in zip((x, y, t), (replay.x, replay.y, replay.t), strict=True)
        )

    @hookimpl
    def clhost_before_forward(self) -> None:
        self._training, self._loss_computed = True, False

    @hookimpl
    def clhost_after_forward(self, strategy: Any) -> None:
        embeddings = F.normalize(self._features(strategy.mb_output), dim=1)
        labels = strategy.mb_y
        self.prototypes.to(embeddings.device).add_classes(labels)
        self.prototypes.accumulate(embeddings, labels)
        strategy.mb_output = embeddings

    def criterion(self, output: Tensor, targets: Tensor) -> Tensor:
        """In training, the PPP loss of the embeddings against the current prototypes; in
        evaluation, the cross-entropy of the prototype scores."""
        if not self._training:
            return F.cross_entropy(output, targets)
        self._loss_computed = True
        prototypes = self.prototypes
        return self.loss(output, targets, prototypes.vectors, prototypes.known)

    @hookimpl
    def clhost_before_backward(self) -> None:
        if not self._loss_computed:
            raise PluginCompositionError(
                "CoPEPlugin trains with its own PPP loss: build the strategy with "
                "criterion=plugin.criterion (the CoPE strategy does)"
            )

    @hookimpl
    def clhost_after_training_iteration(self) -> None:
        self.iterations += 1
        if self.iterations % self.max_it_cnt == 0:
            self.prototypes.update()
        if self._incoming is not None:
            self.memory.update_from_data(self._incoming)
            self._incoming = None

    # -- evaluation -------------------------------------------------------------------

    @hookimpl
    def clhost_after_eval_dataset_adaptation(self, strategy: Any) -> None:
        self._check_classes(strategy.experience)

    @hookimpl
    def clhost_before_eval_forward(self) -> None:
        self._training = False

    @hookimpl
    def clhost_after_eval_forward(self, strategy: Any) -> None:
        strategy.mb_output = self.scores(strategy.mb_output)

    def scores(self, output: Tensor) -> Tensor:
        """Cosine similarity of each embedding to every prototype over ``T``, one column
        per class; classes without a prototype score far below the row's lowest (all
        zero before any class is seen)."""
        embeddings = F.normalize(self._features(output), dim=1)
        prototypes = self.prototypes.to(embeddings.device)
        similarity = embeddings @ prototypes.vectors.to(embeddings.dtype).T / self.T
        lowest = similarity.masked_fill(~prototypes.known, float("inf")).amin(1, keepdim=True)
        unknown = (lowest - UNKNOWN_CLASS_MARGIN).nan_to_num(posinf=0.0)
        return torch.where(prototypes.known, similarity, unknown)

    # -- helpers and state ------------------------------------------------------------

    def _features(self, output: Tensor) -> Tensor:
        """The model's ``p_size`` features (a template pads narrower outputs at the end)."""
        if output.dim() != 2 or output.shape[1] < self.p_size:
            raise PluginCompositionError(
                f"CoPEPlugin(p_size={self.p_size}) needs a model with {self.p_size} outputs "
                f"(the embedding), got outputs of shape {tuple(output.shape)}"
            )
        return output[:, : self.p_size]

    def _check_classes(self, experience: Any) -> None:
        classes = getattr(experience, "classes_in_this_experience", ())
        if classes and max(classes) >= self.n_classes:
            raise ParameterError(
                f"CoPEPlugin was built for n_classes={self.n_classes} but the experience "
                f"holds class {max(classes)}"
            )

    def state_dict(self) -> dict[str, Any]:
        return {
            "memory": self.memory.state_dict(),
            "prototypes": self.prototypes.state_dict(),
            "iterations": self.iterations,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or not {"memory", "prototypes", "iterations"} <= set(state):
            raise CheckpointError("CoPEPlugin state needs its memory, prototypes and iterations")
        self.prototypes.load_state_dict(state["prototypes"])
        self.memory.load_state_dict(state["memory"])
        self.iterations = int(state["iterations"])
