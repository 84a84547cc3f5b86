"""AR1 as a strategy: its model, its SGD optimizer, ``AR1Plugin`` and, when
``ewc_lambda`` is not zero, the synaptic-intelligence penalty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from clhost.models.layers import last_linear
from clhost.templates import SupervisedTemplate
from clhost_ar1.model import ar1_model
from clhost_ar1.plugin import AR1Plugin
from clhost_synaptic_intelligence import SynapticIntelligencePlugin

# inc_lr by default: Avalanche's 5e-5 with its lr of 0.001, and as much smaller than
# another learning rate
INC_LR_RATIO = 0.05


class AR1(SupervisedTemplate):
    """AR1* with latent replay (Pellegrini et al., 2020), with Avalanche's parameters.

    The model is ``model`` (an ``nn.Sequential``, a torchvision MobileNet, EfficientNet,
    VGG, AlexNet or ResNet, or a model of ``features`` then ``classifier``; default:
    torchvision's MobileNetV2 with ``num_classes`` outputs, randomly initialised) with
    ``pretrained_weights`` (a local state-dict file) loaded, batch norm replaced by batch
    renormalization, cut after layer ``latent_layer_num`` (``ar1_model``; by default 19,
    Avalanche's, on the default backbone, and the layer under the classifier on another).
    The optimizer is ``SGD(lr, momentum, weight_decay=l2)`` unless ``optimizer`` is given
    (then ``lr``, ``momentum`` and ``l2`` are not used); later experiences train at
    ``inc_lr``, by default a twentieth of the first learning rate (5e-5 with the default
    ``lr``: Avalanche's values). ``ewc_lambda`` (Avalanche's name) is the strength of the
    synaptic-intelligence penalty on every layer but the classifier. The other parameters
    are ``AR1Plugin``'s (``freeze_below_layer`` names a layer of the cut model, under
    ``upper``).
    """

    def __init__(
        self,
        *,
        criterion: Any = None,
        lr: float = 0.001,
        inc_lr: float | None = None,
        momentum: float = 0.9,
        l2: float = 0.0005,
        train_epochs: int = 4,
        init_update_rate: float = 0.01,
        inc_update_rate: float = 5e-5,
        max_r_max: float = 1.25,
        max_d_max: float = 0.5,
        inc_step: float = 4.1e-05,
        rm_sz: int = 1500,
        freeze_below_layer: str | None = None,
        latent_layer_num: int | None = None,
        ewc_lambda: float = 0.0,
        train_mb_size: int = 128,
        eval_mb_size: int = 128,
        model: nn.Module | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        num_classes: int = 50,
        pretrained_weights: str | Path | None = None,
        plugins: Any = (),
        **kwargs: Any,
    ):
        renorm = {"momentum": init_update_rate, "max_r_max": max_r_max, "max_d_max": max_d_max}
        net = ar1_model(
            model,
            latent_layer_num,
            num_classes=num_classes,
            pretrained_weights=pretrained_weights,
            r_d_max_inc_step=inc_step,
            **renorm,
        )
        optimizer = optimizer or torch.optim.SGD(
            net.parameters(), lr=lr, momentum=momentum, weight_decay=l2
        )
        inc_lr = optimizer.param_groups[0]["lr"] * INC_LR_RATIO if inc_lr is None else inc_lr
        ar1 = AR1Plugin(
            net,
            None,
            rm_sz,
            inc_lr,
            init_update_rate,
            inc_update_rate,
            max_r_max,
            max_d_max,
            inc_step,
            freeze_below_layer,
        )
        si = (
            [SynapticIntelligencePlugin(ewc_lambda, excluded_parameters=(last_linear(net)[0],))]
            if ewc_lambda
            else []
        )
        super().__init__(
            model=net,
            optimizer=optimizer,
            criterion=criterion,
            train_mb_size=train_mb_size,
            train_epochs=train_epochs,
            eval_mb_size=eval_mb_size,
            plugins=[ar1, *si, *plugins],
            **kwargs,
        )
