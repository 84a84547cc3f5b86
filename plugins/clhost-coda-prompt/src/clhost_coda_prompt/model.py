"""CODA-Prompt's model: at each prompted layer, a prompt assembled from components
weighted by the query's attention-masked similarity to their keys."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clhost.data import Experience
from clhost.errors import ParameterError
from clhost.models import DynamicModule
from clhost.validate import positive_int
from clhost_pretrained import freeze, query
from clhost_pretrained.prefix import check_prefixable, prefixed_block


class PromptComponents(nn.Module):
    """``pool_size`` prompt components of ``length`` tokens (half keys, half values of
    an attention prefix), each with a key and an attention vector, split evenly over
    ``n_tasks`` tasks.

    For a query ``q`` the weight of component ``m`` is ``cos(q * A_m, K_m)`` and the
    prompt is ``sum_m weight_m P_m`` over the components of the tasks seen so far; those
    of earlier tasks are used but not trained (detached). Each task's components, keys
    and attention vectors start orthogonal to the earlier ones (Gram-Schmidt)."""

    def __init__(self, pool_size: int, length: int, dim: int, n_tasks: int):
        super().__init__()
        self.n_tasks = positive_int("n_tasks", n_tasks)
        if positive_int("pool_size", pool_size) % n_tasks:
            raise ParameterError(f"pool_size ({pool_size}) must split evenly over {n_tasks} tasks")
        if positive_int("prompt_length", length) % 2:
            raise ParameterError(f"prompt_length ({length}) must be even: half keys, half values")
        self.per_task = pool_size // n_tasks
        self.prompt = nn.Parameter(torch.zeros(pool_size, length, dim))
        self.key = nn.Parameter(torch.zeros(pool_size, dim))
        self.attention = nn.Parameter(torch.zeros(pool_size, dim))

    def start_task(self, task: int) -> None:
        """Initialise task ``task``'s components orthogonal to the earlier ones."""
        if task >= self.n_tasks:
            raise ParameterError(f"experience {task} is past n_tasks={self.n_tasks}")
        start, end = task * self.per_task, (task + 1) * self.per_task
        with torch.no_grad():
            for tensor in (self.prompt, self.key, self.attention):
                flat = tensor.view(len(tensor), -1)
                flat[start:end] = _orthogonal_rows(flat[:start], end - start, flat.shape[1])

    def seen(self, task: int) -> tuple[Tensor, Tensor, Tensor]:
        """Components, keys and attention vectors of the tasks up to ``task``, those of
        the tasks before it detached (used, not trained)."""
        start, end = task * self.per_task, (task + 1) * self.per_task
        prompt, key, attention = (
            torch.cat((t[:start].detach(), t[start:end]))
            for t in (self.prompt, self.key, self.attention)
        )
        return prompt, key, attention

    def orthogonality(self, task: int) -> Tensor:
        """The paper's orthogonality penalty on the seen components, keys and attention
        vectors: ``mean((B B^T - I)^2)`` of each (components flattened to rows), summed.
        Zero for orthonormal rows (Gram-Schmidt's start); only the current task's rows
        receive gradient."""
        return sum(  # type: ignore[return-value]
            _off_orthogonal(tensor.flatten(1)) for tensor in self.seen(task)
        )

    def forward(self, query: Tensor, task: int) -> Tensor:
        """``(B, length, dim)``: the prompt of each query, with the components of tasks
        up to ``task``, those before it frozen."""
        prompt, key, attention = self.seen(task)
        weights = F.cosine_similarity(query[:, None] * attention, key, dim=2)  # (B, M)
        return torch.einsum("bm,mld->bld", weights, prompt)


def _off_orthogonal(rows: Tensor) -> Tensor:
    """``mean((R R^T - I)^2)``: how far the rows ``R`` are from orthonormal."""
    eye = torch.eye(len(rows), dtype=rows.dtype, device=rows.device)
    return ((rows @ rows.T - eye) ** 2).mean()


def _orthogonal_rows(previous: Tensor, count: int, width: int) -> Tensor:
    """``count`` random unit rows orthogonal to ``previous`` and to each other."""
    rows = [*F.normalize(previous, dim=1)] if len(previous) else []
    new = []
    for _ in range(count):
        vector = torch.randn(width, dtype=previous.dtype, device=previous.device)
        for row in rows:
            vector = vector - (vector @ row) * row
        vector = F.normalize(vector, dim=0)
        rows.append(vector)
        new.append(vector)
    return torch.stack(new)


class CODAPromptViT(DynamicModule):
    """``backbone`` (a timm ViT, its weights frozen) whose layers ``prompt_layer_idx``
    each read a ``PromptComponents`` prompt as an attention prefix; the query is the
    frozen ViT's [CLS] feature (eval mode, no prompts); the head reads the class token.
    The task whose components train is the current experience's (``adaptation``)."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        *,
        pool_size: int = 100,
        prompt_length: int = 8,
        prompt_layer_idx: Sequence[int] = (0, 1, 2, 3, 4),
        n_tasks: int = 10,
    ):
        super().__init__()
        if not hasattr(backbone, "blocks") or not hasattr(backbone, "embed_dim"):
            raise ParameterError(f"prompts need a timm VisionTransformer, got {backbone!r}")
        self.layers = tuple(prompt_layer_idx)
        depth = len(backbone.blocks)
        if len(set(self.layers)) < len(self.layers) or not all(0 <= i < depth for i in self.layers):
            raise ParameterError(
                f"prompt_layer_idx {self.layers} must be distinct layers of {depth}"
            )
        for layer in self.layers:
            check_prefixable(backbone.blocks[layer])
        dim = backbone.embed_dim
        self.backbone = freeze(backbone).train()  # weights frozen; dropout follows the mode
        self.components = nn.ModuleList(
            PromptComponents(pool_size, prompt_length, dim, n_tasks) for _ in self.layers
        )
        self.head = nn.Linear(dim, positive_int("num_classes", num_classes))
        self.register_buffer("task", torch.zeros((), dtype=torch.long))
        self.last_selection = None  # no key pull: the weights train end to end

    task: Tensor

    def adaptation(self, experience: Experience) -> None:
        self.task.fill_(experience.current_experience)
        for components in self.components:
            components.start_task(experience.current_experience)

    def orthogonality(self) -> Tensor:
        """``PromptComponents.orthogonality`` of the current task, summed over layers."""
        task = int(self.task)
        return sum(c.orthogonality(task) for c in self.components)  # type: ignore[return-value]

    def forward(self, x: Tensor, task_labels: Tensor | None = None) -> Tensor:
        vit, task = self.backbone, int(self.task)
        queries = query(self.backbone, x)
        prefixes = {}
        for layer, components in zip(self.layers, self.components, strict=True):
            prompt = components(queries, task)
            half = prompt.shape[1] // 2
            prefixes[layer] = (prompt[:, :half], prompt[:, half:])
        tokens = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))
        for index, block in enumerate(vit.blocks):
            tokens = prefixed_block(block, tokens, prefixes.get(index))
        return self.head(vit.head_drop(vit.fc_norm(vit.norm(tokens)[:, 0])))
