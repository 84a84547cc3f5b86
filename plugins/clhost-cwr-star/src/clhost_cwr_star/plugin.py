"""CWR* as a plugin: per-class output weights trained from zero and consolidated."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from clhost import hookimpl, validate
from clhost.errors import CheckpointError, ParameterError
from clhost.models.freeze import freeze_except
from clhost.models.layers import last_linear, named_layer
from clhost.plugin import SupervisedPlugin


class CWRStarPlugin(SupervisedPlugin):
    """CWR* (Lomonaco & Maltoni, 2019): consolidated output weights per class.

    Before each experience every output unit of the classifier layer (``cwr_layer_name``,
    by default the model's last ``nn.Linear``) is set to zero, except those of the
    classes trained now that were seen before, which get their consolidated weights
    ``cw``. After the experience, the trained weights ``tw`` of its classes are
    mean-shifted (the mean over those classes' weights subtracted) and consolidated by
    ``consolidate``: ``cw_j = (cw_j * w_j + tw_j - mean(tw)) / (w_j + 1)`` with
    ``w_j = sqrt(past_j / cur_j)``, ``past_j`` the samples of class ``j`` trained before
    and ``cur_j`` those of this experience; then every seen class's unit gets ``cw``,
    which is what evaluation uses. Biases, when the layer has them, are consolidated by
    the same rule (their own mean subtracted).

    With ``freeze_remaining_model`` every layer but the classifier is frozen from the
    second experience on (parameters and batch-norm statistics; ``clhost.models.freeze``),
    as in the paper, where the representation is learnt on the first batch only.

    ``model`` is the model trained, optional: given, a wrong ``cwr_layer_name`` fails at
    construction, not at the first experience; the hooks act on the strategy's model. A
    classifier that grows with the stream (``IncrementalClassifier``) is found again by
    name each time. Task labels are not used.
    """

    state_key = "cwr-star"
    distributed = "replicated"  # counts from the whole experience; weights as trained

    def __init__(
        self,
        model: nn.Module | None = None,
        cwr_layer_name: str | None = None,
        freeze_remaining_model: bool = True,
    ):
        self.cwr_layer_name = cwr_layer_name
        self.freeze_remaining_model = validate.boolean(
            "freeze_remaining_model", freeze_remaining_model
        )
        if model is not None:
            self.cwr_layer(model)
        self.consolidated_weight = torch.zeros(0, 0)
        self.consolidated_bias = torch.zeros(0)
        self.past_counts = torch.zeros(0)  # samples of each class trained before
        self.current_counts = torch.zeros(0)  # samples of each class this experience

    def cwr_layer(self, model: nn.Module) -> nn.Linear:
        """The classifier layer whose weights are consolidated."""
        if self.cwr_layer_name is None:
            return last_linear(model)[1]
        found = named_layer(model, self.cwr_layer_name, nn.Linear)
        assert isinstance(found, nn.Linear)
        return found

    def class_counts(self, strategy: Any) -> Tensor:
        """Samples of each class the experience trains on (``strategy.adapted_dataset``)."""
        return torch.bincount(_targets(strategy.adapted_dataset)).double()

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        linear = self.cwr_layer(strategy.model)
        if self.freeze_remaining_model and strategy.clock.train_exp_counter > 0:
            freeze_except(strategy.model, linear)
        self._fit(linear)
        counts = self.class_counts(strategy).to(self.past_counts.device)
        if len(counts) > linear.out_features:
            raise ParameterError(
                f"CWR*: the classifier has {linear.out_features} outputs but the experience "
                f"has class {len(counts) - 1}; use a larger or growing classifier"
            )
        self.current_counts = torch.zeros_like(self.past_counts)
        self.current_counts[: len(counts)] = counts
        with torch.no_grad():
            reload = (self.current_counts > 0) & (self.past_counts > 0)
            linear.weight.zero_()
            linear.weight[reload] = self.consolidated_weight[reload]
            if linear.bias is not None:
                linear.bias.zero_()
                linear.bias[reload] = self.consolidated_bias[reload]

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        linear = self.cwr_layer(strategy.model)
        self._fit(linear)
        current = self.current_counts > 0
        with torch.no_grad():
            self.consolidated_weight[current] = consolidate(
                self.consolidated_weight[current],
                linear.weight[current],
                self.past_counts[current],
                self.current_counts[current],
            )
            if linear.bias is not None:
                self.consolidated_bias[current] = consolidate(
                    self.consolidated_bias[current].unsqueeze(1),
                    linear.bias[current].unsqueeze(1),
                    self.past_counts[current],
                    self.current_counts[current],
                ).squeeze(1)
            self.past_counts += self.current_counts
            seen = self.past_counts > 0
            linear.weight[seen] = self.consolidated_weight[seen]
            if linear.bias is not None:
                linear.bias[seen] = self.consolidated_bias[seen]

    def _fit(self, linear: nn.Linear) -> None:
        """Size the consolidated tensors to ``linear`` (a growing classifier adds units)."""
        rows, width = linear.out_features, linear.in_features
        weight = self.consolidated_weight
        if weight.numel() and weight.shape[1] != width:
            raise ParameterError(
                f"CWR*: the classifier now takes {width} inputs, not {weight.shape[1]}"
            )
        device, dtype = linear.weight.device, linear.weight.dtype
        grown = torch.zeros(rows, width, device=device, dtype=dtype)
        if len(weight):
            grown[: len(weight)] = weight.to(device=device, dtype=dtype)
        self.consolidated_weight = grown
        self.consolidated_bias = _padded(self.consolidated_bias, rows, device, dtype)
        self.past_counts = _padded(self.past_counts, rows, device, torch.float64)
        self.current_counts = _padded(self.current_counts, rows, device, torch.float64)

    def state_dict(self) -> dict[str, Any]:
        return {
            "consolidated_weight": self.consolidated_weight.clone(),
            "consolidated_bias": self.consolidated_bias.clone(),
            "past_counts": self.past_counts.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            weight, bias = state["consolidated_weight"], state["consolidated_bias"]
            counts = state["past_counts"]
        except (KeyError, TypeError) as error:
            raise CheckpointError(f"CWRStarPlugin state lacks {error}") from None
        if not all(isinstance(t, Tensor) for t in (weight, bias, counts)) or len(weight) != len(
            counts
        ):
            raise CheckpointError("CWRStarPlugin state must hold one row per class")
        self.consolidated_weight, self.consolidated_bias = weight.clone(), bias.clone()
        self.past_counts = counts.clone()
        self.current_counts = torch.zeros_like(self.past_counts)


def consolidate(consolidated: Tensor, trained: Tensor, past: Tensor, current: Tensor) -> Tensor:
    """CWR*'s consolidation of the rows of the classes just trained: ``trained`` minus its
    mean over all its entries, averaged with ``consolidated`` in the ratio
    ``sqrt(past / current) : 1`` (a class never seen has ``past = 0``: it takes the
    mean-shifted weights as they are)."""
    shifted = trained - trained.mean()
    weight = (past / current).sqrt().to(trained.dtype).unsqueeze(1)
    return (consolidated * weight + shifted) / (weight + 1)


def _padded(values: Tensor, size: int, device: Any, dtype: torch.dtype) -> Tensor:
    grown = torch.zeros(size, device=device, dtype=dtype)
    grown[: len(values)] = values.to(device=device, dtype=dtype)
    return grown


def _targets(dataset: Any) -> Tensor:
    """The class labels of ``dataset``: its ``targets`` when it has them, else read."""
    targets = getattr(dataset, "targets", None)
    if targets is None:
        targets = [int(dataset[index][1]) for index in range(len(dataset))]
    return torch.as_tensor(targets, dtype=torch.long).reshape(-1).cpu()
