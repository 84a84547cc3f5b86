"""LearningToPrompt: L2P's prompt pool on a frozen pretrained ViT, Avalanche's parameters."""

from __future__ import annotations

from functools import partial
from typing import Any

from clhost.errors import ParameterError
from clhost.validate import boolean, number
from clhost_l2p.model import build_l2p_model
from clhost_pretrained.prompt import PromptInit
from clhost_pretrained.prompted import EmbeddingKey, HeadType, PromptedViT
from clhost_pretrained.template import PromptTemplate


class LearningToPrompt(PromptTemplate):
    """Learning to Prompt (Wang et al., CVPR 2022): a pretrained Vision Transformer stays
    frozen; a pool of ``pool_size`` prompts of ``prompt_length`` tokens, each with a key,
    is learned with a linear head of ``num_classes`` outputs. Each image's query (the
    frozen ViT's [CLS] feature, ``use_cls_features``) picks the ``top_k`` prompts whose
    keys are the most cosine-similar; they are inserted into the ViT's token sequence and
    the head reads the mean of their outputs (``head_type``). The loss is the
    cross-entropy minus ``sim_coefficient`` times the summed query-key similarity of the
    chosen keys (the pull constraint). With ``use_mask`` the logits of classes outside the
    current experience are masked while training. A fresh Adam (``lr``) over prompts,
    keys and head starts each experience, as in Avalanche.

    The backbone is ``model`` (a timm ViT, for ``clhost run --model vit:...``) or the
    timm model ``model_name`` built with ``drop_rate``/``drop_path_rate``, its weights
    read from ``pretrained_path`` when ``pretrained`` (never downloaded). ``bf16`` runs
    the forward pass under bf16 autocast, ``channels_last`` feeds channels-last images.
    """

    def __init__(
        self,
        *,
        prompt_pool: bool = True,
        pool_size: int = 20,
        prompt_length: int = 5,
        top_k: int = 5,
        lr: float = 0.03,
        sim_coefficient: float = 0.1,
        prompt_key: bool = True,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        embedding_key: EmbeddingKey = "cls",
        prompt_init: PromptInit = "uniform",
        batchwise_prompt: bool = False,
        head_type: HeadType = "prompt",
        use_prompt_mask: bool = False,
        train_prompt_mask: bool = False,
        use_cls_features: bool = True,
        use_vit: bool = True,
        **template: Any,
    ):
        if not boolean("use_vit", use_vit):
            raise ParameterError("use_vit=False is not supported: L2P prompts a timm ViT")
        drops = {
            "drop_rate": number("drop_rate", drop_rate, low=0, high=1, high_open=True),
            "drop_path_rate": number(
                "drop_path_rate", drop_path_rate, low=0, high=1, high_open=True
            ),
        }
        prompt_pool = boolean("prompt_pool", prompt_pool)
        prompted = partial(
            build_l2p_model,
            prompt_pool=prompt_pool,
            pool_size=pool_size,
            prompt_length=prompt_length,
            top_k=top_k,
            prompt_key=prompt_key,
            prompt_init=prompt_init,
            batchwise_prompt=batchwise_prompt,
            head_type=head_type,
            embedding_key=embedding_key,
            use_cls_features=use_cls_features,
            prompt_mask=use_prompt_mask and train_prompt_mask,
        )
        pull = sim_coefficient if prompt_pool else 0.0  # no pool: no keys
        super().__init__(prompted, pull, drops, lr=lr, **template)

    model: PromptedViT
