"""RanPAC: ridge regression on randomly projected frozen features, in closed form."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from clhost.templates.base import DEFAULT
from clhost_pretrained import FrozenFeatureTemplate
from clhost_pretrained.backbone import DEFAULT_MODEL_NAME
from clhost_ranpac.model import RandomProjectionRidge


class RanPAC(FrozenFeatureTemplate):
    """RanPAC (McDonnell, Gong, Parvaneh, Abbasnejad and van den Hengel, NeurIPS 2023):
    the frozen backbone's features, projected by a fixed random matrix to
    ``projection_size`` dimensions through a ReLU, and a ridge-regression classifier
    (penalty ``ridge``) solved in closed form from the Gram matrix and the
    feature-target products, updated with each minibatch; no sample is kept, nothing is
    trained by gradient. ``seed`` draws the projection. The other parameters are
    ``FrozenFeatureTemplate``'s (the backbone, ``bf16``, ``channels_last``) and the
    template's."""

    def __init__(
        self,
        *,
        projection_size: int = 10000,
        ridge: float = 1e4,
        seed: int = 0,
        model: nn.Module | None = None,
        model_name: str = DEFAULT_MODEL_NAME,
        pretrained: bool = True,
        pretrained_path: str | None = None,
        bf16: bool = False,
        channels_last: bool = False,
        criterion: Callable[..., Tensor] | None = None,
        train_mb_size: int = 32,
        train_epochs: int = 1,
        eval_mb_size: int | None = None,
        device: str | torch.device | None = None,
        plugins: Sequence[object] = (),
        evaluator: Any = DEFAULT,
        eval_every: int = -1,
        peval_mode: Literal["epoch", "iteration"] = "epoch",
        num_workers: int = 0,
    ):
        self._classifier = RandomProjectionRidge(projection_size, ridge, seed)
        super().__init__(
            model=model,
            model_name=model_name,
            pretrained=pretrained,
            pretrained_path=pretrained_path,
            bf16=bf16,
            channels_last=channels_last,
            criterion=criterion,
            train_mb_size=train_mb_size,
            train_epochs=train_epochs,
            eval_mb_size=eval_mb_size,
            device=device,
            plugins=plugins,
            evaluator=evaluator,
            eval_every=eval_every,
            peval_mode=peval_mode,
            num_workers=num_workers,
        )

    def make_classifier(self) -> RandomProjectionRidge:
        return self._classifier
