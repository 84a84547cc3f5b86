"""ICaRLPlugin: train on new data and exemplars, then classify by the nearest exemplar mean."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.errors import CheckpointError, ParameterError, PluginCompositionError, UnknownNameError
from clhost.models import MultiTaskModule, NCMClassifier
from clhost.models.ncm import UNKNOWN_CLASS_MARGIN
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal.data import to_tensor_data
from clhost_icarl.memory import ICaRLMemory

EXEMPLAR_FLAG = "icarl_exemplar"


class ICaRLPlugin(SupervisedPlugin):
    """iCaRL's rehearsal and classifier (Rebuffi et al., CVPR 2017).

    Each experience trains on its data together with every stored exemplar (with
    ``buffer_transform`` applied to the exemplars of each minibatch, e.g. an augmentation).
    After it, exemplar sets are reduced and built by herding on the L2-normalised output
    of the layer ``feature_layer`` (see ``ICaRLMemory``: ``memory_size`` shared by the
    classes when ``fixed_memory``, else per class), and the mean normalised feature of
    each class's exemplars becomes its prototype. Evaluation then predicts the class of
    the nearest prototype (``self.ncm``, an ``NCMClassifier``) instead of the model's
    outputs, read from the same forward pass; before the first experience ends there are
    no prototypes and the model's outputs are kept. The loss is the strategy's criterion:
    iCaRL's own is ``clhost_loss_icarl.ICaRLLossPlugin``.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "icarl"
    distributed = "replicated"  # rank 0's exemplars and means, broadcast

    def __init__(
        self,
        memory_size: int = 200,
        buffer_transform: Callable[[Tensor], Tensor] | None = None,
        fixed_memory: bool = True,
        feature_layer: str = "features",
    ):
        if buffer_transform is not None and not callable(buffer_transform):
            raise ParameterError(
                f"buffer_transform must be a callable on a batch of inputs or None, "
                f"got {type(buffer_transform).__name__}"
            )
        self.memory = ICaRLMemory(memory_size, fixed_memory, feature_layer)
        self.buffer_transform = buffer_transform
        self.feature_layer = feature_layer
        self.ncm = NCMClassifier(normalize=True)
        self._flag_index: int | None = None
        self._captured: Tensor | None = None
        self._hook: Any = None

    @property
    def memory_size(self) -> int:
        return self.memory.max_size

    @property
    def fixed_memory(self) -> bool:
        return self.memory.fixed_memory

    def feature_module(self, model: nn.Module) -> nn.Module:
        """The layer whose output is iCaRL's feature vector."""
        layers = dict(model.named_modules())
        if self.feature_layer not in layers:
            raise UnknownNameError("layer", self.feature_layer, [n for n in layers if n])
        return layers[self.feature_layer]

    # -- training ---------------------------------------------------------------------

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        if isinstance(strategy.model, MultiTaskModule):
            raise PluginCompositionError(
                "iCaRL classifies by the nearest mean over all classes; it does not support "
                "multi-task (multi-head) models"
            )
        self.feature_module(strategy.model)
        self.ncm.to(strategy.device)

    @hookimpl
    def clhost_after_train_dataset_adaptation(self, strategy: Any) -> None:
        exemplars = self.memory.buffer
        self._flag_index = None
        if len(exemplars) == 0:
            return
        current = to_tensor_data(strategy.adapted_dataset)
        if self.buffer_transform is not None:
            current = current.with_extra(EXEMPLAR_FLAG, torch.zeros(len(current), dtype=torch.bool))
            exemplars = exemplars.with_extra(
                EXEMPLAR_FLAG, torch.ones(len(exemplars), dtype=torch.bool)
            )
        strategy.adapted_dataset = type(current).concat([current, exemplars])
        if self.buffer_transform is not None:
            self._flag_index = 3 + list(strategy.adapted_dataset.extras).index(EXEMPLAR_FLAG)

    @hookimpl
    def clhost_before_training_iteration(self, strategy: Any) -> None:
        if self._flag_index is None or self.buffer_transform is None:
            return
        batch = strategy.mbatch
        flags = batch[self._flag_index] if len(batch) > self._flag_index else None
        if flags is None or flags.dtype != torch.bool:
            raise PluginCompositionError(
                "ICaRLPlugin's buffer_transform needs the exemplar flag it adds to the "
                "training data, but the minibatches lack it: another plugin replaced the "
                "dataloader; drop buffer_transform or that plugin"
            )
        if bool(flags.any()):
            x = batch[0].clone()
            x[flags] = self.buffer_transform(x[flags])
            strategy.mbatch = (x, *batch[1:])

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        self.memory.update(strategy)
        self.update_class_means(strategy)

    @torch.no_grad()
    def update_class_means(self, strategy: Any) -> None:
        """Set each class's prototype to the mean normalised feature of its exemplars."""
        exemplars = self.memory.buffer
        if len(exemplars) == 0:
            return
        selection = self.memory.selection_strategy
        selection.model = strategy.model
        features = F.normalize(selection.extract_features(strategy, exemplars), dim=1)
        labels = exemplars.y.to(features.device)
        classes, inverse = torch.unique(labels, return_inverse=True)
        sums = features.new_zeros(len(classes), features.shape[1]).index_add_(0, inverse, features)
        counts = torch.bincount(inverse, minlength=len(classes)).unsqueeze(1)
        means = sums / counts
        self.ncm.to(features.device)
        self.ncm.replace_class_means_dict(dict(zip(classes.tolist(), means, strict=True)))

    # -- evaluation: nearest mean of exemplars ------------------------------------------

    @hookimpl
    def clhost_before_eval(self, strategy: Any) -> None:
        self._captured = None
        if not bool(self.ncm.has_mean.any()):
            return
        self.ncm.to(strategy.device)

        def capture(module: nn.Module, inputs: Any, output: Any) -> None:
            self._captured = output.flatten(1)

        self._hook = self.feature_module(strategy.model).register_forward_hook(capture)

    @hookimpl
    def clhost_before_eval_forward(self, strategy: Any) -> None:
        self._captured = None

    @hookimpl
    def clhost_after_eval_forward(self, strategy: Any) -> None:
        features, output = self._captured, strategy.mb_output
        if self._hook is None or features is None or len(features) != len(output):
            return
        scores = self.ncm(features)
        missing = output.shape[1] - scores.shape[1]
        if missing > 0:
            filler = scores.amin(dim=1, keepdim=True) - UNKNOWN_CLASS_MARGIN
            scores = torch.cat((scores, filler.expand(-1, missing)), dim=1)
        strategy.mb_output = scores.to(output.dtype)

    @hookimpl
    def clhost_after_eval(self, strategy: Any) -> None:
        if self._hook is not None:
            self._hook.remove()
        self._hook, self._captured = None, None

    # -- state --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"memory": self.memory.state_dict(), "ncm": dict(self.ncm.state_dict())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or {"memory", "ncm"} - set(state):
            raise CheckpointError("ICaRLPlugin state lacks its memory or its class means")
        self.memory.load_state_dict(state["memory"])
        self.ncm.load_state_dict(state["ncm"])
