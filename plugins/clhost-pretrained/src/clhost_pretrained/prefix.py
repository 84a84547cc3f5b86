"""Prefix-tuning of a timm ViT block: prompts prepended to the keys and values of its
attention, not to its tokens (DualPrompt's prompts; the sequence length is unchanged)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clhost.errors import ParameterError


def check_prefixable(block: nn.Module) -> None:
    """Refuse a block whose attention is not timm's plain ``Attention`` (one ``qkv``
    projection, no gate), whose computation ``prefixed_block`` repeats."""
    attn = getattr(block, "attn", None)
    if getattr(attn, "qkv", None) is None or getattr(attn, "gate", None) is not None:
        raise ParameterError(f"prefix prompts need timm's plain ViT blocks, got {block!r}")


def prefixed_block(block: nn.Module, x: Tensor, prefix: tuple[Tensor, Tensor] | None) -> Tensor:
    """``block(x)`` with ``prefix`` = (keys, values), each ``(B, L, D)``, prepended to its
    attention's keys and values; ``block(x)`` itself without one."""
    if prefix is None:
        return block(x)
    x = x + block.drop_path1(block.ls1(prefix_attention(block.attn, block.norm1(x), *prefix)))
    return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))


def prefix_attention(attn: nn.Module, x: Tensor, keys: Tensor, values: Tensor) -> Tensor:
    """timm ``Attention.forward`` on ``x`` with ``keys``/``values`` prepended."""
    batch, length, _ = x.shape
    heads, dim = attn.num_heads, attn.head_dim
    qkv = attn.qkv(x).reshape(batch, length, 3, heads, dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)

    def per_head(prefix: Tensor) -> Tensor:
        return prefix.to(x.dtype).reshape(batch, -1, heads, dim).transpose(1, 2)

    k = torch.cat((per_head(keys), k), dim=2)
    v = torch.cat((per_head(values), v), dim=2)
    q, k = attn.q_norm(q), attn.k_norm(k)
    dropout = attn.attn_drop.p if attn.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    out = attn.norm(out.transpose(1, 2).reshape(batch, length, -1))
    return attn.proj_drop(attn.proj(out))
