"""RAR: a supervised strategy with the RAR plugin built in."""

from __future__ import annotations

from typing import Any

from clhost.rehearsal import ExemplarsBuffer
from clhost.templates import SupervisedTemplate
from clhost_rar.plugin import RARPlugin, ReplayWeighting


class RAR(SupervisedTemplate):
    """Retrospective Adversarial Replay: see ``RARPlugin`` for the parameters; every
    keyword of ``SupervisedTemplate`` is accepted and extra ``plugins`` run after RAR's."""

    def __init__(
        self,
        *,
        batch_size_mem: int = 10,
        mem_size: int = 200,
        layer_name: str | None = None,
        use_adversarial_replay: bool = True,
        beta_coef: float = 0.4,
        decay_factor_fgsm: float = 1.0,
        epsilon_fgsm: float = 0.0314,
        iter_fgsm: int = 2,
        use_mixup: bool = False,
        mixup_alpha: float = 0.2,
        buffer: ExemplarsBuffer | None = None,
        replay_weighting: ReplayWeighting = "separate",
        **kwargs: Any,
    ):
        plugin = RARPlugin(
            batch_size_mem=batch_size_mem,
            mem_size=mem_size,
            layer_name=layer_name,
            use_adversarial_replay=use_adversarial_replay,
            beta_coef=beta_coef,
            decay_factor_fgsm=decay_factor_fgsm,
            epsilon_fgsm=epsilon_fgsm,
            iter_fgsm=iter_fgsm,
            use_mixup=use_mixup,
            mixup_alpha=mixup_alpha,
            buffer=buffer,
            replay_weighting=replay_weighting,
        )
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)
