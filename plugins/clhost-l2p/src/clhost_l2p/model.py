"""L2P's model: a frozen timm ViT, a prompt pool and a head, built from the strategy's
parameters."""

from __future__ import annotations

from torch import nn

from clhost.errors import ParameterError
from clhost.validate import boolean, number
from clhost_pretrained import PromptedViT, PromptPool, build_backbone
from clhost_pretrained.prompt import PromptInit
from clhost_pretrained.prompted import EmbeddingKey, HeadType


def build_l2p_model(
    *,
    model: nn.Module | None,
    model_name: str,
    pretrained: bool,
    pretrained_path: str | None,
    drop_rate: float,
    drop_path_rate: float,
    prompt_pool: bool,
    pool_size: int,
    prompt_length: int,
    top_k: int,
    prompt_key: bool,
    prompt_init: PromptInit,
    batchwise_prompt: bool,
    num_classes: int,
    head_type: HeadType,
    embedding_key: EmbeddingKey,
    use_cls_features: bool,
    prompt_mask: bool,
) -> PromptedViT:
    """The prompted ViT: ``model`` (a timm ViT) or the timm model ``model_name`` (with
    ``drop_rate``/``drop_path_rate``, weights from ``pretrained_path``); without
    ``prompt_pool`` one prompt of ``prompt_length`` tokens serves every sample."""
    drops = {
        "drop_rate": number("drop_rate", drop_rate, low=0, high=1, high_open=True),
        "drop_path_rate": number("drop_path_rate", drop_path_rate, low=0, high=1, high_open=True),
    }
    model = build_backbone(model, model_name, pretrained, pretrained_path, **drops)
    if not hasattr(model, "embed_dim"):
        raise ParameterError(f"L2P prompts a timm VisionTransformer, got {type(model).__name__}")
    if not boolean("prompt_pool", prompt_pool):
        pool_size, top_k, prompt_key = 1, 1, False
    pool = PromptPool(
        pool_size,
        prompt_length,
        model.embed_dim,
        top_k,
        prompt_key=prompt_key,
        init=prompt_init,
        batchwise_prompt=batchwise_prompt,
    )
    return PromptedViT(
        model,
        pool,
        num_classes,
        head_type=head_type,
        embedding_key=embedding_key,
        use_cls_features=use_cls_features,
        prompt_mask=prompt_mask,
    )
