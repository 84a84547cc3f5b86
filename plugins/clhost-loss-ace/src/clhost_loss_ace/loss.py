"""The asymmetric cross-entropy: incoming samples compete only with their batch's classes.

In online class-incremental learning the samples of a new class arrive alongside replayed
ones. A plain cross-entropy on the incoming batch pushes the logits of every old class
down, which abruptly changes the representation of old classes when new ones start
(Caccia et al., 2022). ACE restricts the softmax of incoming samples to the classes
present in the incoming batch, and the softmax of replayed samples to the classes seen so
far, so only replay decides how old and new classes are separated.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def present_units(targets: Tensor, n_units: int) -> Tensor:
    """A boolean mask over ``n_units`` output units, true for the classes in ``targets``.

    Built on the targets' device without reading them back (no synchronisation).
    """
    mask = torch.zeros(n_units, dtype=torch.bool, device=targets.device)
    mask[targets] = True
    return mask


def restrict_logits(logits: Tensor, units: Tensor) -> Tensor:
    """``logits`` with every unit outside the boolean mask ``units`` set to ``-inf``, so
    a softmax over the row ignores them and they receive no gradient."""
    return logits.masked_fill(~units, float("-inf"))


class ACECriterion:
    """Asymmetric cross-entropy (Caccia et al., 2022, "New Insights on Reducing Abrupt
    Representation Change in Online Continual Learning").

    ``criterion(out_in, target_in, out_mem, target_mem, seen_classes)``: the mean
    cross-entropy of the incoming samples over the classes present in ``target_in`` only,
    plus the mean cross-entropy of the replayed samples over ``seen_classes`` (class ids,
    or a boolean mask over the output units; every unit when ``None``). The sum of the
    two means is the paper's loss: the replayed minibatch weighs as much as the incoming
    one whatever their sizes.

    Called as a template's criterion, ``criterion(mb_output, mb_y)``, it is the incoming
    part alone: a cross-entropy restricted to the classes of each minibatch. It holds no
    state; ``ERACEPlugin`` (``clhost-er-ace``) tracks the seen classes and the memory.
    """

    def __call__(
        self,
        out_in: Tensor,
        target_in: Tensor,
        out_mem: Tensor | None = None,
        target_mem: Tensor | None = None,
        seen_classes: Tensor | Sequence[int] | None = None,
    ) -> Tensor:
        n_units = out_in.shape[1]
        loss = F.cross_entropy(
            restrict_logits(out_in, present_units(target_in, n_units)), target_in
        )
        if out_mem is not None and target_mem is not None and len(target_mem):
            if seen_classes is not None:
                out_mem = restrict_logits(out_mem, _as_mask(seen_classes, out_mem))
            loss = loss + F.cross_entropy(out_mem, target_mem)
        return loss


def _as_mask(classes: Tensor | Sequence[int], logits: Tensor) -> Tensor:
    classes = torch.as_tensor(classes, device=logits.device)
    if classes.dtype == torch.bool:
        return classes
    return present_units(classes.long(), logits.shape[1])
