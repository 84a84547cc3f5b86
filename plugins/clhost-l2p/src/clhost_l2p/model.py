"""L2P's model: a frozen timm ViT, a prompt pool and a head, built from the strategy's
parameters."""

from __future__ import annotations

from torch import nn

from clhost.errors import ParameterError
from clhost.validate import boolean
from clhost_pretrained import PromptedViT, PromptPool
from clhost_pretrained.prompt import PromptInit
from clhost_pretrained.prompted import EmbeddingKey, HeadType


def build_l2p_model(
    backbone: nn.Module,
    num_classes: int,
    *,
    prompt_pool: bool,
    pool_size: int,
    prompt_length: int,
    top_k: int,
    prompt_key: bool,
    prompt_init: PromptInit,
    batchwise_prompt: bool,
    head_type: HeadType,
    embedding_key: EmbeddingKey,
    use_cls_features: bool,
    prompt_mask: bool,
) -> PromptedViT:
    """The prompted ViT on ``backbone`` (a timm ViT); without ``prompt_pool`` one prompt of
    ``prompt_length`` tokens serves every sample."""
    if not hasattr(backbone, "embed_dim"):
        raise ParameterError(f"L2P prompts a timm VisionTransformer, got {type(backbone).__name__}")
    if not boolean("prompt_pool", prompt_pool):
        pool_size, top_k, prompt_key = 1, 1, False
    pool = PromptPool(
        pool_size,
        prompt_length,
        backbone.embed_dim,
        top_k,
        prompt_key=prompt_key,
        init=prompt_init,
        batchwise_prompt=batchwise_prompt,
    )
    return PromptedViT(
        backbone,
        pool,
        num_classes,
        head_type=head_type,
        embedding_key=embedding_key,
        use_cls_features=use_cls_features,
        prompt_mask=prompt_mask,
    )
