"""A pool of learnable prompts with keys, chosen per sample by key-query matching
(L2P's pool; DualPrompt's expert prompts are chosen the same way)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clhost.errors import ParameterError
from clhost.validate import boolean, one_of, positive_int

PromptInit = Literal["uniform", "zero"]


@dataclass
class PromptSelection:
    """What the pool chose for a minibatch.

    ``prompts``: ``(B, top_k * length, D)``, the chosen prompts' tokens, in order of
    similarity; ``indices``: ``(B, top_k)``; ``similarity``: ``(B, pool_size)``, the cosine
    similarity of each query to each key; ``pull``: the mean over the minibatch of the
    summed similarity of each query to its chosen keys (L2P's surrogate loss pulls the
    chosen keys towards their queries by maximising it).
    """

    prompts: Tensor
    indices: Tensor
    similarity: Tensor
    pull: Tensor


class PromptPool(nn.Module):
    """``pool_size`` prompts of ``length`` tokens of size ``embed_dim``, each with a key
    of size ``embed_dim``; each query takes the ``top_k`` prompts whose keys are the most
    cosine-similar to it.

    With ``prompt_key=False`` the keys are not parameters but each prompt's mean token.
    With ``batchwise_prompt`` every sample of a minibatch takes the ``top_k`` prompts
    chosen most often in it (ties to the lower index), as in L2P's reference code.
    ``init`` draws prompts and keys from ``U(-1, 1)`` (``"uniform"``) or zeros.
    """

    def __init__(
        self,
        pool_size: int,
        length: int,
        embed_dim: int,
        top_k: int,
        *,
        prompt_key: bool = True,
        init: PromptInit = "uniform",
        batchwise_prompt: bool = False,
    ):
        super().__init__()
        self.pool_size = positive_int("pool_size", pool_size)
        self.length = positive_int("prompt_length", length)
        self.top_k = positive_int("top_k", top_k)
        if top_k > pool_size:
            raise ParameterError(f"top_k ({top_k}) cannot exceed pool_size ({pool_size})")
        one_of("prompt_init", init, ("uniform", "zero"))
        self.batchwise_prompt = boolean("batchwise_prompt", batchwise_prompt)
        self.prompt = nn.Parameter(_initial((pool_size, length, embed_dim), init))
        self.key = (
            nn.Parameter(_initial((pool_size, embed_dim), init))
            if boolean("prompt_key", prompt_key)
            else None
        )

    def keys(self) -> Tensor:
        """``(pool_size, D)``: the learned keys, or each prompt's mean token."""
        return self.prompt.mean(dim=1) if self.key is None else self.key

    def task_indices(self, task_labels: Tensor) -> Tensor:
        """``(B, top_k)``: each sample's task's own prompts (task ``t``: prompts
        ``t * top_k`` to ``(t + 1) * top_k - 1``), for ``forward``'s ``indices``."""
        top_k, pool_size = self.top_k, self.pool_size
        if int(task_labels.max()) * top_k + top_k > pool_size:
            raise ParameterError(
                f"task {int(task_labels.max())} has no prompts of its own: pool_size "
                f"{pool_size} holds {pool_size // top_k} tasks of top_k={top_k} prompts"
            )
        offsets = torch.arange(top_k, device=task_labels.device)
        return task_labels.long()[:, None] * top_k + offsets

    def forward(self, query: Tensor, indices: Tensor | None = None) -> PromptSelection:
        """The prompts for ``query`` (``(B, D)``); ``indices`` (``(B, top_k)``) forces the
        choice (a task's own prompts)."""
        keys = F.normalize(self.keys(), dim=1)
        query = F.normalize(query.to(keys.dtype), dim=1)
        similarity = query @ keys.T
        if indices is None:
            indices = similarity.topk(self.top_k, dim=1).indices
            if self.batchwise_prompt:
                indices = _most_chosen(indices, self.pool_size, self.top_k)
        chosen = similarity.gather(1, indices)
        # a one-hot product, not self.prompt[indices]: the gradient of indexing with
        # repeated indices is summed in a thread-dependent order on the CPU, which made
        # two identical runs (and a resumed one) differ in the last bits
        one_hot = F.one_hot(indices, self.pool_size).to(self.prompt.dtype)
        prompts = torch.einsum("bkp,p...->bk...", one_hot, self.prompt).flatten(1, 2)
        return PromptSelection(prompts, indices, similarity, chosen.sum(dim=1).mean())


def _initial(shape: tuple[int, ...], init: str) -> Tensor:
    return torch.zeros(shape) if init == "zero" else torch.empty(shape).uniform_(-1, 1)


def _most_chosen(indices: Tensor, pool_size: int, top_k: int) -> Tensor:
    """The ``top_k`` prompts chosen most often in ``indices``, for every sample."""
    counts = torch.bincount(indices.flatten(), minlength=pool_size)
    # stable descending sort: among equal counts the lower index comes first
    order = torch.sort(counts, descending=True, stable=True).indices[:top_k]
    return order.expand(len(indices), -1)
