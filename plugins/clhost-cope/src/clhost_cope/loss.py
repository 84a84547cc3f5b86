"""The pseudo-prototypical proxy (PPP) loss of CoPE (De Lange & Tuytelaars, 2021).

Class prototypes live on the unit sphere of the embedding space. The probability that an
embedding ``z`` belongs to class ``c``, with ``q`` standing for class ``c``, is a softmax
restricted to ``q`` and the prototypes of the other known classes::

    p_q(c | z) = exp(z.q / T) / (exp(z.q / T) + sum_{k != c} exp(z.p_k / T))

The proxies of class ``c`` are its prototype ``p_c`` and, as pseudo-prototypes, the
embeddings of the batch's other samples of class ``c``. The attractor raises, for every
sample, the mean probability of its class over its proxies; the repellor lowers, for
every pair (positive ``j`` of class ``c``, negative ``k`` of another class), the
probability that ``z_k`` belongs to ``c`` through ``z_j`` and ``p_c`` (their mean)::

    L = -1/B * [ sum_i log mean_{q in proxies(i)} p_q(y_i | z_i)
                 + sum_{j, k: y_k != y_j} log(1 - (p_{z_j}(y_j|z_k) + p_{p_y_j}(y_j|z_k)) / 2) ]

Prototypes receive no gradient; in the attractor the pseudo-prototypes are fixed too
(only the anchor moves), in the repellor both embeddings move.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from clhost.validate import number

ABSENT = -1e9  # the logit of a prototype that does not take part


class PPPLoss:
    """Pseudo-prototypical proxy loss with softmax temperature ``T``.

    ``loss(embeddings, labels, prototypes, known)``: ``embeddings`` ``[B, d]`` are
    L2-normalised, ``prototypes`` ``[n_classes, d]`` too, ``known`` marks the classes that
    have a prototype (every class of ``labels`` must). With a single known class nothing
    can be told apart and the loss is zero.
    """

    def __init__(self, T: float = 0.1):
        self.T = number("T", T, low=0, low_open=True)

    def __call__(
        self, embeddings: Tensor, labels: Tensor, prototypes: Tensor, known: Tensor
    ) -> Tensor:
        z, batch = embeddings, len(labels)
        prototypes = prototypes.detach().to(z.dtype)
        # Unknown classes and a class's own prototype are left out of its rivals with a
        # finite stand-in for -inf, so a class with no rival yet gets p = 1, not NaN.
        to_prototypes = (z @ prototypes.T / self.T).masked_fill(~known, ABSENT)
        # rivals[i, c]: log of sum_{k != c} exp(z_i.p_k / T) over the known classes k
        itself_class = torch.eye(len(known), dtype=torch.bool, device=z.device)
        rivals = to_prototypes.unsqueeze(1).masked_fill(itself_class, ABSENT).logsumexp(2)
        own = labels.unsqueeze(1)
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        itself = torch.eye(batch, dtype=torch.bool, device=z.device)

        # Attractor: anchor i against the fixed proxies of its class.
        rival_own = rivals.gather(1, own)
        through_pseudo = F.logsigmoid(z @ z.detach().T / self.T - rival_own)
        through_pseudo = through_pseudo.masked_fill(~same | itself, float("-inf"))
        through_prototype = F.logsigmoid(to_prototypes.gather(1, own) - rival_own)
        proxies = torch.cat((through_pseudo, through_prototype), dim=1)
        n_proxies = same.sum(1, keepdim=True)  # the other positives and the prototype
        attractor = proxies.logsumexp(1, keepdim=True) - n_proxies.log()

        # Repellor: negative k (row) against class y_j through positive j (column).
        rival_of_j = rivals.gather(1, labels.unsqueeze(0).expand(batch, -1))
        pseudo = z @ z.T / self.T - rival_of_j
        prototype = to_prototypes.gather(1, labels.unsqueeze(0).expand(batch, -1)) - rival_of_j
        # log(1 - (sigmoid(a) + sigmoid(b)) / 2) = log((sigmoid(-a) + sigmoid(-b)) / 2)
        repel = torch.logaddexp(F.logsigmoid(-pseudo), F.logsigmoid(-prototype)) - math.log(2)
        repellor = torch.where(~same, repel, torch.zeros_like(repel))
        return -(attractor.sum() + repellor.sum()) / batch
