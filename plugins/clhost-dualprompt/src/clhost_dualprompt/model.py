"""DualPrompt's model: a frozen timm ViT whose attention reads general prompts in its
first layers and the expert prompts chosen for each sample in the next ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from clhost.errors import ParameterError
from clhost.validate import one_of, positive_int
from clhost_pretrained import PromptPool, freeze, query
from clhost_pretrained.prefix import check_prefixable, prefixed_block
from clhost_pretrained.prompt import PromptInit, PromptSelection


class DualPromptViT(nn.Module):
    """``backbone`` (a timm ViT, its weights frozen) with prefix prompts and a head.

    The G-prompt (general, shared by every task) is ``g_prompt_length`` key and
    ``g_prompt_length`` value tokens at each layer of ``g_prompt_layer_idx``; the
    E-prompts (expert) are a pool of ``pool_size``, each ``e_prompt_length`` key and value
    tokens for each layer of ``e_prompt_layer_idx``, with a key: a sample takes the
    ``top_k`` whose keys best match its query (the frozen ViT's [CLS] feature, in eval
    mode), or, given task labels, its task's own (task ``t``: prompts ``t * top_k`` to
    ``(t + 1) * top_k - 1``). Prompts are prepended to the attention's keys and values
    (prefix-tuning), so the token sequence keeps its length; the head reads the class
    token (``head_type="token"``) or the mean token (``"gap"``).
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        *,
        g_prompt_length: int = 5,
        g_prompt_layer_idx: Sequence[int] = (0, 1),
        e_prompt_length: int = 5,
        e_prompt_layer_idx: Sequence[int] = (2, 3, 4),
        pool_size: int = 10,
        top_k: int = 1,
        prompt_init: PromptInit = "uniform",
        head_type: Literal["token", "gap"] = "token",
    ):
        super().__init__()
        if not hasattr(backbone, "blocks") or not hasattr(backbone, "embed_dim"):
            raise ParameterError(f"prompts need a timm VisionTransformer, got {backbone!r}")
        self.g_layers, self.e_layers = tuple(g_prompt_layer_idx), tuple(e_prompt_layer_idx)
        depth = len(backbone.blocks)
        shared = set(self.g_layers) & set(self.e_layers)
        outside = [i for i in self.g_layers + self.e_layers if not 0 <= i < depth]
        if shared or outside or len(set(self.g_layers)) < len(self.g_layers):
            raise ParameterError(
                f"g_prompt_layer_idx {self.g_layers} and e_prompt_layer_idx {self.e_layers} "
                f"must be distinct layers of the {depth} blocks"
            )
        for layer in self.g_layers + self.e_layers:
            check_prefixable(backbone.blocks[layer])
        dim = backbone.embed_dim
        self.backbone = freeze(backbone).train()  # weights frozen; dropout follows the mode
        g_shape = (len(self.g_layers), 2, positive_int("g_prompt_length", g_prompt_length), dim)
        g_prompt = torch.zeros(g_shape)
        if one_of("prompt_init", prompt_init, ("uniform", "zero")) == "uniform":
            g_prompt.uniform_(-1, 1)
        self.g_prompt = nn.Parameter(g_prompt)
        self.e_length = positive_int("e_prompt_length", e_prompt_length)
        tokens = len(self.e_layers) * 2 * self.e_length  # keys and values of every layer
        self.pool = PromptPool(pool_size, tokens, dim, top_k, init=prompt_init)
        self.head = nn.Linear(dim, positive_int("num_classes", num_classes))
        self.head_type = one_of("head_type", head_type, ("token", "gap"))
        self.last_selection: PromptSelection | None = None

    def forward(self, x: Tensor, task_labels: Tensor | None = None) -> Tensor:
        vit = self.backbone
        selection = self.pool(query(self.backbone, x), self._task_prompts(task_labels))
        tokens = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))
        prefixes = self._prefixes(selection.prompts, len(x))
        for index, block in enumerate(vit.blocks):
            tokens = prefixed_block(block, tokens, prefixes.get(index))
        tokens = vit.norm(tokens)
        self.last_selection = selection
        pooled = tokens[:, 0] if self.head_type == "token" else tokens.mean(dim=1)
        return self.head(vit.head_drop(vit.fc_norm(pooled)))

    def _task_prompts(self, task_labels: Tensor | None) -> Tensor | None:
        if task_labels is None:
            return None
        return self.pool.task_indices(task_labels)

    def _prefixes(self, expert: Tensor, batch: int) -> dict[int, tuple[Tensor, Tensor]]:
        """Layer index -> (key prefix, value prefix), each ``(B, L, D)``."""
        top_k, length, dim = self.pool.top_k, self.e_length, expert.shape[-1]
        # (B, top_k * layers * 2 * length, D) -> (layers, 2, B, top_k * length, D)
        expert = expert.view(batch, top_k, len(self.e_layers), 2, length, dim)
        expert = expert.permute(2, 3, 0, 1, 4, 5).reshape(len(self.e_layers), 2, batch, -1, dim)
        prefixes = {
            layer: (g[0].expand(batch, -1, -1), g[1].expand(batch, -1, -1))
            for layer, g in zip(self.g_layers, self.g_prompt, strict=True)
        }
        prefixes.update(
            {layer: (e[0], e[1]) for layer, e in zip(self.e_layers, expert, strict=True)}
        )
        return prefixes
