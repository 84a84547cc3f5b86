"""Where LFL reads a model's features, and which layers read them."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from clhost.errors import PluginCompositionError
from clhost.models import forward_with_tasks


class FeatureSite:
    """The penultimate features of a model: the output of ``model.features`` when it has
    one (every clhost MLP does), else the input of its last ``nn.Linear``.

    The classifier layers are the ``nn.Linear`` modules that read those features: every
    one outside ``model.features`` (all heads of a multi-head model), or the last one.
    """

    def __init__(self, model: nn.Module):
        if isinstance(getattr(model, "features", None), nn.Module):
            self.path, self.reads_input = "features", False
        else:
            linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
            if not linears:
                raise PluginCompositionError(
                    f"LFL needs a model with a `features` module or ending in nn.Linear; "
                    f"{type(model).__name__} has neither"
                )
            self.path, self.reads_input = linears[-1], True

    def classifier_layers(self, model: nn.Module) -> list[str]:
        if self.reads_input:
            return [self.path]
        return [
            name
            for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and name.split(".")[0] != "features"
        ]

    def record(self, model: nn.Module, into: list[Tensor]) -> RemovableHandle:
        """Append the features of each forward pass of ``model`` to ``into``."""
        module = model.get_submodule(self.path)
        if self.reads_input:
            return module.register_forward_pre_hook(lambda _, args: into.append(args[0]))
        return module.register_forward_hook(lambda _, args, output: into.append(output))

    def compute(self, model: nn.Module, x: Tensor, task_labels: Tensor) -> Tensor:
        """The features of ``model`` on ``x`` (one pass through the features only, when
        the model has a ``features`` module)."""
        if not self.reads_input:
            return model.get_submodule(self.path)(x)
        recorded: list[Tensor] = []
        handle = self.record(model, recorded)
        try:
            forward_with_tasks(model, x, task_labels)
        finally:
            handle.remove()
        return recorded[-1]

    def classifier_layers_reached(
        self, model: nn.Module, x: Tensor, task_labels: Tensor
    ) -> list[str]:
        """The classifier layers ``x`` passes through, in the order reached, with the
        model in eval mode (a probe must not move batch-norm statistics)."""
        reached: list[str] = []
        handles = [
            model.get_submodule(name).register_forward_hook(
                lambda *_, name=name: reached.append(name)
            )
            for name in self.classifier_layers(model)
        ]
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                forward_with_tasks(model, x, task_labels)
        finally:
            model.train(was_training)
            for handle in handles:
                handle.remove()
        return list(dict.fromkeys(reached))
