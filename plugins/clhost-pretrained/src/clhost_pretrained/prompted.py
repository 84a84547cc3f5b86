"""A frozen timm Vision Transformer that reads prompts chosen from a pool for each sample,
and the linear head trained on its output (L2P's model)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from clhost.errors import ParameterError
from clhost.validate import boolean, one_of, positive_int
from clhost_pretrained.backbone import freeze, query
from clhost_pretrained.prompt import PromptPool, PromptSelection

HeadType = Literal["prompt", "token", "gap", "token+prompt"]
EmbeddingKey = Literal["cls", "mean", "max", "mean_max"]


class PromptedViT(nn.Module):
    """``backbone`` (a timm ``VisionTransformer``, its weights frozen) with the
    prompts ``pool`` chooses for each sample inserted after its class token, and a linear
    ``head`` of ``num_classes`` outputs on the pooled result (``head_type``: the mean of
    the prompt tokens' outputs, the class token's, all tokens', or the class and prompt
    tokens').

    The query matched against the pool's keys is, with ``use_cls_features``, the frozen
    backbone's own pre-logits feature of the image without prompts, in eval mode (L2P's
    query); the prompted pass follows the model's mode (the backbone's dropout, if any);
    otherwise the patch embeddings reduced by ``embedding_key`` (``"cls"`` then means
    their maximum, as in Avalanche). With ``prompt_mask`` each sample takes the ``top_k``
    prompts of its task (task ``t``: prompts ``t * top_k`` to ``(t + 1) * top_k - 1``)
    instead of matching. The last selection is kept in ``last_selection`` for the loss.
    Prompts sit after the position embedding, so the pretrained one is used unchanged.
    """

    def __init__(
        self,
        backbone: nn.Module,
        pool: PromptPool,
        num_classes: int,
        *,
        head_type: HeadType = "prompt",
        embedding_key: EmbeddingKey = "cls",
        use_cls_features: bool = True,
        prompt_mask: bool = False,
    ):
        super().__init__()
        if not all(hasattr(backbone, a) for a in ("patch_embed", "blocks", "_pos_embed")):
            raise ParameterError(
                f"prompts need a timm VisionTransformer backbone, got {type(backbone).__name__}"
            )
        self.backbone = freeze(backbone).train()  # weights frozen; dropout follows the mode
        self.pool = pool
        self.head = nn.Linear(backbone.embed_dim, positive_int("num_classes", num_classes))
        self.head_type = one_of("head_type", head_type, ("prompt", "token", "gap", "token+prompt"))
        self.embedding_key = one_of(
            "embedding_key", embedding_key, ("cls", "mean", "max", "mean_max")
        )
        self.use_cls_features = boolean("use_cls_features", use_cls_features)
        self.prompt_mask = boolean("prompt_mask", prompt_mask)
        self.last_selection: PromptSelection | None = None

    def forward(self, x: Tensor, task_labels: Tensor | None = None) -> Tensor:
        vit = self.backbone
        patches = vit.patch_embed(x)
        selection = self.pool(self._query(x, patches), self._task_prompts(task_labels))
        tokens = vit.norm_pre(vit.patch_drop(vit._pos_embed(patches)))
        first = vit.num_prefix_tokens
        prompts = selection.prompts.to(tokens.dtype)
        tokens = torch.cat((tokens[:, :first], prompts, tokens[:, first:]), dim=1)
        tokens = vit.norm(vit.blocks(tokens))
        self.last_selection = selection
        return self.head(vit.head_drop(vit.fc_norm(self._pooled(tokens, first, prompts.shape[1]))))

    def _query(self, x: Tensor, patches: Tensor) -> Tensor:
        if self.use_cls_features:
            return query(self.backbone, x)
        key = self.embedding_key
        if key == "mean":
            return patches.mean(dim=1)
        if key == "mean_max":
            return patches.amax(dim=1) + 2 * patches.mean(dim=1)
        return patches.amax(dim=1)  # "max", and "cls" with no class feature

    def _task_prompts(self, task_labels: Tensor | None) -> Tensor | None:
        if not self.prompt_mask:
            return None
        if task_labels is None:
            raise ParameterError("prompt_mask needs the task labels of the minibatch")
        return self.pool.task_indices(task_labels)

    def _pooled(self, tokens: Tensor, first: int, prompt_tokens: int) -> Tensor:
        if self.head_type == "token":
            return tokens[:, 0]
        if self.head_type == "gap":
            return tokens.mean(dim=1)
        if self.head_type == "prompt":
            return tokens[:, first : first + prompt_tokens].mean(dim=1)
        return tokens[:, : first + prompt_tokens].mean(dim=1)  # "token+prompt"
