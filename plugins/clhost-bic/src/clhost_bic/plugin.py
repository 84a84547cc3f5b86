"""BiCPlugin: replay with distillation, then learn a bias correction on a held-out split."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from clhost import distributed, hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import TensorBatchLoader, TensorData
from clhost.deprecation import renamed
from clhost.errors import CheckpointError, ParameterError, PluginCompositionError
from clhost.models import MultiTaskModule
from clhost.plugin import SupervisedPlugin
from clhost.regularization import PreviousModel
from clhost.rehearsal import ExemplarsBuffer
from clhost.rehearsal.data import to_tensor_data
from clhost.validate import boolean, non_negative_int, number, positive_int
from clhost_bic.bias import BiasLayer
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_replay import exemplars_buffer, replay_dataloader

STAGE_2_MOMENTUM = 0.9


class BiCPlugin(SupervisedPlugin):
    """Bias Correction (Wu et al., "Large Scale Incremental Learning", CVPR 2019).

    The memory of ``mem_size`` exemplars is split: ``round(val_percentage * mem_size)``
    form a class-balanced validation memory, the rest the replay memory ``storage_policy``
    (by default class-balanced). From each experience, every class holds out as many samples as the
    validation memory will keep for it; they are never trained on.

    Stage 1 trains on the rest of the experience with minibatches joined by replayed
    exemplars (``batch_size``/``batch_size_mem``/``task_balanced_dataloader`` as in
    ``ReplayPlugin``), with the loss ``(1 - lambda) * criterion + lambda * distillation``:
    the distillation is the KL divergence at temperature ``T`` from the previous model's
    scores on the old classes (bias-corrected, as the previous model predicted) to the
    current ones, and ``lambda = old / seen classes`` unless ``lamb`` fixes it. The old
    classes are those seen before and absent from the experience; the experience's own
    classes are learnt from its labels.
    Stage 2 freezes the model and learns ``alpha``, ``beta`` of a ``BiasLayer`` on the
    scores of the experience's classes: cross-entropy over the seen classes on the
    validation memory (old classes' and the new ones' held-out samples, balanced), SGD
    with learning rate ``lr`` (momentum 0.9) for ``stage_2_epochs`` epochs. Evaluation
    applies the layer. An experience with no old classes (the first; every experience of
    a domain-incremental stream) has no distillation (``lambda = 0``) and no correction:
    it is replay with a held-out validation memory.

    Under DDP the held-out samples are rank 0's draw, stage 1 is replay's (each rank its
    part of every minibatch) and every rank runs stage 2 on the whole validation memory.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "bic"
    distributed = "replicated"  # rank 0's memories and bias layer, broadcast after each exp.

    @renamed(buffer="storage_policy")
    def __init__(
        self,
        mem_size: int = 2000,
        batch_size: int | None = None,
        batch_size_mem: int | None = None,
        task_balanced_dataloader: bool = False,
        storage_policy: ExemplarsBuffer | None = None,
        val_percentage: float = 0.1,
        T: int = 2,
        stage_2_epochs: int = 200,
        lamb: float = -1,
        lr: float = 0.1,
    ):
        positive_int("mem_size", mem_size)
        for name, value in (("batch_size", batch_size), ("batch_size_mem", batch_size_mem)):
            if value is not None:
                positive_int(name, value)
        non_negative_int("stage_2_epochs", stage_2_epochs)
        boolean("task_balanced_dataloader", task_balanced_dataloader)
        number("val_percentage", val_percentage, low=0, high=1, low_open=True, high_open=True)
        number("T (the distillation temperature)", T, low=0, low_open=True)
        if lamb != -1:  # -1: the share of old classes
            number("lamb (-1, or a weight)", lamb, low=0, high=1)
        number("lr (of the bias correction)", lr, low=0, low_open=True)
        val_size = round(val_percentage * mem_size)
        replay_size = mem_size - val_size
        if val_size < 1 or replay_size < 1:
            raise ParameterError(
                f"mem_size={mem_size} with val_percentage={val_percentage} leaves "
                f"{val_size} validation and {replay_size} replay exemplars; both need one"
            )
        self.storage_policy = _replay_memory(storage_policy, replay_size, mem_size, val_size)
        self.val_buffer = ClassBalancedBuffer(val_size, adaptive_size=True)
        self.mem_size, self.val_percentage = mem_size, val_percentage
        self.batch_size, self.batch_size_mem = batch_size, batch_size_mem
        self.task_balanced_dataloader = task_balanced_dataloader
        self.T, self.stage_2_epochs, self.lamb, self.lr = T, stage_2_epochs, lamb, lr
        self.previous_model = PreviousModel()
        self.bias_layer = BiasLayer()  # corrects the newest classes, applied in evaluation
        self.distilled_bias_layer = BiasLayer()  # the previous model's, used as targets
        self.seen_classes: list[int] = []  # before the experience being trained
        self._train_part: TensorData | None = None
        self._held_out: TensorData | None = None
        self._old_units: Tensor | None = None
        self._weight = 0.0

    @property
    def new_classes(self) -> list[int]:
        """The classes of the experience trained last (all new in class-incremental
        learning): the ones the bias layer corrects."""
        return self.bias_layer.classes.tolist()

    @property
    def old_classes(self) -> list[int]:
        """Classes seen before the experience trained last and absent from it."""
        return self._old_units.tolist() if self._old_units is not None else []

    # -- stage 1 ------------------------------------------------------------------------

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        if isinstance(strategy.model, MultiTaskModule):
            raise PluginCompositionError(
                "BiC corrects the scores of one classifier over all classes; a multi-task "
                "model has one head per task (use a single-head model)"
            )
        self.previous_model.module(strategy.model)  # a loaded copy is rebuilt before growth

    @hookimpl
    def clhost_after_train_dataset_adaptation(self, strategy: Any) -> None:
        data = to_tensor_data(strategy.adapted_dataset)
        self._train_part, self._held_out = self.split_validation(data)
        strategy.adapted_dataset = self._train_part

    def split_validation(self, data: TensorData) -> tuple[TensorData, TensorData]:
        """Random held-out samples of each class of ``data``, as many as the validation
        memory will keep for it (one sample at least stays for training)."""
        classes = data.classes
        sizes = self.val_buffer.target_sizes([*self.val_buffer.buffer_groups, *classes])
        held = []
        for label in classes:
            members = torch.nonzero(data.y == label)[:, 0]
            count = min(sizes[label], len(members) - 1)
            held.append(members[torch.randperm(len(members))[:count].to(members.device)])
        held_index = torch.cat(held) if held else torch.empty(0, dtype=torch.long)
        held_index = distributed.broadcast_tensor(held_index)  # every rank trains on the rest
        keep = torch.ones(len(data), dtype=torch.bool, device=data.y.device)
        keep[held_index] = False
        return data.subset(torch.nonzero(keep)[:, 0]), data.subset(held_index.sort().values)

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        current = self._train_part.classes if self._train_part is not None else []
        # Old classes are those this experience brings no data of: only they are kept by
        # distillation, and only against them is the experience's classes' bias corrected.
        # An experience of classes seen before (domain-incremental) has none: lambda is 0.
        old = sorted(set(self.seen_classes) - set(current))
        self.distilled_bias_layer = self.bias_layer.to(strategy.device)
        self.bias_layer = BiasLayer(current).to(strategy.device)
        self._old_units = torch.tensor(old, dtype=torch.long, device=strategy.device)
        n_seen = len(set(self.seen_classes) | set(current))
        self._weight = self.distillation_weight(len(old), n_seen)

    @hookimpl
    def clhost_train_dataloader(self, strategy: Any) -> Any:
        return replay_dataloader(strategy, self)

    def distillation_weight(self, n_old: int, n_seen: int) -> float:
        """``lambda``: the share of the loss given to distillation when ``n_old`` of the
        ``n_seen`` classes were seen before the experience."""
        if self.lamb != -1:
            return float(self.lamb)
        return n_old / n_seen if n_seen else 0.0

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> list[tuple[str, Tensor]] | None:
        previous = self.previous_model.module(strategy.model)
        if previous is None or self._old_units is None or len(self._old_units) == 0:
            return None
        weight = self._weight
        with torch.no_grad():
            targets = self.distilled_bias_layer(previous(strategy.mb_x))[:, self._old_units]
        scores = strategy.mb_output[:, self._old_units]
        distillation = F.kl_div(
            F.log_softmax(scores / self.T, dim=1),
            F.log_softmax(targets / self.T, dim=1),
            reduction="batchmean",
            log_target=True,
        )
        # the criterion already in the loss is scaled to (1 - weight) by subtracting its share
        return [
            ("bic-distillation", weight * distillation),
            ("bic-classification", -weight * strategy.criterion()),
        ]

    # -- stage 2 ------------------------------------------------------------------------

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        if self._train_part is None or self._held_out is None:
            raise PluginCompositionError(
                "BiCPlugin did not see this experience's training data; another plugin "
                "replaced the dataset adaptation"
            )
        self.val_buffer.update_from_data(self._held_out)
        self.storage_policy.update_from_data(self._train_part)
        if self.old_classes and self.new_classes and self.stage_2_epochs:
            self.bias_correction_step(strategy)
        self.seen_classes = sorted({*self.seen_classes, *self._train_part.classes})
        self.previous_model.remember(strategy.model)
        self._train_part, self._held_out = None, None

    def bias_correction_step(self, strategy: Any) -> None:
        """Learn ``alpha`` and ``beta`` on the validation memory with the model frozen.

        The model's scores on the validation samples are computed once (eval mode, no
        gradients): with the model frozen they are the same at every step.
        """
        validation = self.val_buffer.buffer
        scores = _scores(strategy, validation)
        targets = validation.y.to(scores.device)
        seen = torch.zeros(scores.shape[1], dtype=torch.bool, device=scores.device)
        seen[torch.tensor([*self.seen_classes, *self.new_classes], device=scores.device)] = True
        layer = self.bias_layer.to(scores.device)
        optimizer = torch.optim.SGD(layer.parameters(), lr=self.lr, momentum=STAGE_2_MOMENTUM)
        pairs = TensorData(scores, targets)
        for _ in range(self.stage_2_epochs):
            for batch_scores, batch_targets, _ in TensorBatchLoader(
                pairs, strategy.train_mb_size, shuffle=True, shard=False
            ):
                corrected = layer(batch_scores).masked_fill(~seen, float("-inf"))
                loss = F.cross_entropy(corrected, batch_targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        layer.requires_grad_(False)

    # -- evaluation ---------------------------------------------------------------------

    @hookimpl
    def clhost_after_eval_forward(self, strategy: Any) -> None:
        self.bias_layer.to(strategy.mb_output.device)
        strategy.mb_output = self.bias_layer(strategy.mb_output)

    # -- state --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "buffer": self.storage_policy.state_dict(),  # the key checkpoints hold
            "val_buffer": self.val_buffer.state_dict(),
            "previous_model": self.previous_model.state_dict(),
            "bias_layer": self.bias_layer.state(),
            "distilled_bias_layer": self.distilled_bias_layer.state(),
            "seen_classes": list(self.seen_classes),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        expected = {"buffer", "val_buffer", "previous_model", "bias_layer", "seen_classes"}
        if not isinstance(state, dict) or expected - set(state):
            raise CheckpointError(f"BiCPlugin state lacks {sorted(expected - set(state or {}))}")
        self.storage_policy.load_state_dict(state["buffer"])
        self.val_buffer.load_state_dict(state["val_buffer"])
        self.previous_model.load_state_dict(state["previous_model"])
        self.bias_layer = BiasLayer.from_state(state["bias_layer"])
        self.distilled_bias_layer = BiasLayer.from_state(state["distilled_bias_layer"])
        self.seen_classes = [int(label) for label in state["seen_classes"]]


@torch.no_grad()
def _scores(strategy: Any, data: TensorData) -> Tensor:
    model, was_training = strategy.model, strategy.model.training
    model.eval()
    try:
        batches = TensorBatchLoader(data, strategy.eval_mb_size)
        return torch.cat([model(batch[0].to(strategy.device)) for batch in batches])
    finally:
        model.train(was_training)


def _replay_memory(
    storage_policy: ExemplarsBuffer | None, replay_size: int, mem_size: int, val_size: int
) -> ExemplarsBuffer:
    if storage_policy is None:
        return ClassBalancedBuffer(replay_size, adaptive_size=True)
    buffer = exemplars_buffer("storage_policy", storage_policy)
    if buffer.max_size != replay_size:
        raise ParameterError(
            f"storage_policy holds {buffer.max_size} samples, but of mem_size={mem_size} BiC "
            f"keeps {val_size} for validation: give a buffer of {replay_size}"
        )
    kind = type(buffer)
    if (
        kind.update_from_data is ExemplarsBuffer.update_from_data
        and kind.add is ExemplarsBuffer.add
    ):
        raise ParameterError(
            f"{type(buffer).__name__} can only be updated from a strategy; BiC fills its buffer "
            "with the training part of each experience and needs add or update_from_data"
        )
    return buffer
