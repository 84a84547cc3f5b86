"""StreamingLDA: the supervised loop with the LDA statistics fitted in place of SGD."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from clhost.templates import FittingTemplate
from clhost.validate import boolean, number, positive_int
from clhost_streaming_lda.model import StreamingLDAClassifier, StreamingLDAModel


class StreamingLDA(FittingTemplate):
    """Deep Streaming Linear Discriminant Analysis (Hayes & Kanan, CVPR-W 2020).

    One pass over the stream without backpropagation: ``slda_model`` (cut at its layer
    ``output_layer_name`` if given; the identity if none) is a frozen feature extractor,
    and on its features a ``StreamingLDAClassifier`` keeps a running mean per class and
    one shared covariance (updated as it streams, or fixed with
    ``streaming_update_sigma=False``), shrunk by ``shrinkage_param`` towards the identity
    before it is inverted. ``input_size`` (the feature size) and ``num_classes`` are
    measured from the stream when not given.

    Each minibatch is scored before it is fitted, so the training metrics are those of
    predicting samples not yet learned. The optimizer hooks are never fired (there is no
    forward/backward/update step); ``criterion`` only measures the loss. The other
    parameters are the template's (``FittingTemplate``).
    """

    distributed = "unsupported"
    distributed_reason = (
        "it keeps its class means and shared covariance as running averages updated "
        "minibatch by minibatch: each rank would fit only its share (not merged over "
        "ranks yet)"
    )

    default_model = nn.Identity  # clhost run without --model: LDA on the inputs themselves

    def __init__(
        self,
        *,
        slda_model: nn.Module | None = None,
        input_size: int | None = None,
        num_classes: int | None = None,
        output_layer_name: str | None = None,
        shrinkage_param: float = 1e-4,
        streaming_update_sigma: bool = True,
        **template: Any,
    ):
        classifier = StreamingLDAClassifier(
            input_size=0 if input_size is None else positive_int("input_size", input_size),
            num_classes=0 if num_classes is None else positive_int("num_classes", num_classes),
            shrinkage_param=number("shrinkage_param", shrinkage_param, low=0, high=1),
            streaming_update_sigma=boolean("streaming_update_sigma", streaming_update_sigma),
        )
        slda_model = nn.Identity() if slda_model is None else slda_model
        if not isinstance(slda_model, nn.Module):
            raise TypeError(f"slda_model must be a torch.nn.Module, got {slda_model!r}")
        model = StreamingLDAModel(
            slda_model, classifier, output_layer_name, num_classes is not None
        )
        super().__init__(model, **template)

    def minibatch_features(self) -> Tensor:
        return self.model.features(self.mb_x, self.mb_task_id)

    def training_scores(self, features: Tensor) -> Tensor:
        return self.model.classifier(features)

    def fit(self, features: Tensor, targets: Tensor) -> None:
        self.model.classifier.fit(features, targets)

    def fit_base(self, features: Tensor, targets: Tensor) -> None:
        """Base initialisation (the paper's): the statistics, covariance included, become
        those of ``features`` (already extracted, N x ``input_size``) of ``targets``."""
        self.model.cover(features.shape[1], int(targets.max()) + 1, "the base data")
        self.model.classifier.fit_base(features.to(self.device), targets.to(self.device))
