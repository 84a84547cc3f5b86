"""Per-parameter importances and the quadratic penalties weighted by them.

EWC, Synaptic Intelligence, MAS and RWalk all pull each parameter towards a stored copy,
weighted by an importance; they differ only in how the importance is estimated. Storing
copies, estimating importances from gradients, and comparing a model that has grown
since (wider classifiers, new heads) with what was stored live here so that all of them
handle these cases the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from clhost import distributed
from clhost.data import make_loader
from clhost.errors import CheckpointError, UnknownNameError
from clhost.models.dynamic import forward_with_tasks

ParamTensors = dict[str, Tensor]
Index = tuple[slice, ...]


def named_trainables(model: nn.Module, exclude: Sequence[str] = ()) -> dict[str, nn.Parameter]:
    """The parameters that train, without those named in ``exclude``.

    An entry of ``exclude`` is a parameter name or a module prefix (``"classifier"`` leaves
    out every parameter under it), so heads added later are covered by their parent.
    """
    return {
        name: param
        for name, param in model.named_parameters()
        if param.requires_grad and not _under_any(name, exclude)
    }


def check_exclusions(model: nn.Module, exclude: Sequence[str]) -> None:
    """Raise ``UnknownNameError`` for an entry of ``exclude`` that names no parameter."""
    names = [name for name, _ in model.named_parameters()]
    for entry in exclude:
        if not any(_under_any(name, (entry,)) for name in names):
            raise UnknownNameError("parameter", entry, names)


def _under_any(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def detached_copy(tensors: Mapping[str, Tensor]) -> ParamTensors:
    """Independent copies, cut from autograd: a snapshot later steps cannot change."""
    return {name: tensor.detach().clone() for name, tensor in tensors.items()}


def overlap(old: torch.Size, new: torch.Size) -> Index:
    """The index of the region two shapes of one parameter share.

    Layers only grow by appending units, so the region where a grown parameter still holds
    what it had when a copy was stored is the leading block of every dimension.
    """
    if len(old) != len(new):
        raise ValueError(f"a parameter changed rank from {tuple(old)} to {tuple(new)}")
    return tuple(slice(0, min(a, b)) for a, b in zip(old, new, strict=True))


def fit_to(tensor: Tensor, shape: torch.Size) -> Tensor:
    """``tensor`` zero-padded (or cut) to ``shape``: units a layer gained have no history."""
    if tensor.shape == shape:
        return tensor
    fitted = tensor.new_zeros(shape)
    index = overlap(tensor.shape, shape)
    fitted[index] = tensor[index]
    return fitted


def fit_all(tensors: Mapping[str, Tensor], params: Mapping[str, Tensor]) -> ParamTensors:
    """For each parameter, its entry of ``tensors`` fitted to its shape and device (zeros
    for a parameter that has no entry yet, like a new head)."""
    return {
        name: fit_to(tensors[name].to(param.device), param.shape)
        if name in tensors
        else torch.zeros_like(param, memory_format=torch.contiguous_format)
        for name, param in params.items()
    }


class AnchorSums:
    """Running sums over stored (anchors, weights) sets: ``W = sum_k w_k``,
    ``S = sum_k w_k a_k`` and ``Q = sum_k w_k a_k^2`` per parameter, in float64.

    ``sum_k w_k (theta - a_k)^2 = W (theta - S/W)^2 + (Q - S^2/W)``, so these three sums
    are all a quadratic penalty needs: adding a set costs one pass over the parameters
    and building the penalty another, however many sets were added (EWC's separate mode
    adds one per experience). A parameter that grew since a set was stored keeps zeros for
    its new units (they have no history); the sums grow with it.
    """

    def __init__(self, stored: Iterable[tuple[Mapping[str, Tensor], Mapping[str, Tensor]]] = ()):
        self.count = 0
        self.weight: ParamTensors = {}
        self.moment: ParamTensors = {}
        self.square: ParamTensors = {}
        for anchors, weights in stored:
            self.add(anchors, weights)

    @torch.no_grad()
    def add(self, anchors: Mapping[str, Tensor], weights: Mapping[str, Tensor]) -> None:
        for name, anchor in anchors.items():
            a, w = anchor.double(), weights[name].to(anchor.device, torch.float64)
            for sums, term in ((self.weight, w), (self.moment, w * a), (self.square, w * a * a)):
                held = sums.get(name)
                if held is None:
                    sums[name] = term
                else:
                    shape = torch.Size(map(max, held.shape, term.shape))
                    sums[name] = fit_to(held.to(a.device), shape) + fit_to(term, shape)
        self.count += 1


class QuadraticPenalty:
    """``scale * sum_k sum_i w_ki (theta_i - anchor_ki)^2`` over stored (anchors, weights) sets.

    The sets are merged (``AnchorSums``) into one weight ``W = sum_k w_k``, one centre (the
    ``w``-weighted mean of the anchors) and a constant (the anchors' weighted spread around
    it), which has the same value and gradient: a training step costs the same whether one
    experience or fifty are stored. The penalty binds the model's current parameter objects,
    so build a new one whenever the model may have grown. Stored tensors are compared on the
    region they share with the parameter; units and heads added after they were stored have
    zero weight.

    Given the strategy's ``optimizer``, a penalty stiffer than its steps can follow is
    capped: see ``sgd_weight_limits``.
    """

    def __init__(
        self,
        params: Mapping[str, Tensor],
        stored: AnchorSums | Iterable[tuple[Mapping[str, Tensor], Mapping[str, Tensor]]],
        scale: float = 1.0,
        *,
        optimizer: torch.optim.Optimizer | None = None,
    ):
        sums = stored if isinstance(stored, AnchorSums) else AnchorSums(stored)
        limits = sgd_weight_limits(optimizer) if optimizer is not None else {}
        self.names: list[str] = []
        self.params: list[Tensor] = []
        self.weights: list[Tensor] = []
        self.centres: list[Tensor] = []
        spreads: list[Tensor] = []
        for name, param in params.items():
            if name not in sums.weight:
                continue
            weight, moment, square = (
                fit_to(part[name].to(param.device), param.shape)
                for part in (sums.weight, sums.moment, sums.square)
            )
            centre = torch.where(weight != 0, moment / weight.where(weight != 0, 1.0), 0.0)
            spread = square - moment * centre if sums.count > 1 else None  # one anchor: none
            weight = weight * scale
            limit = limits.get(id(param))
            if limit is not None:
                capped = weight.clamp(max=limit)  # as if every set's weights were scaled down
                if spread is not None:
                    spread = spread * capped / weight.where(weight != 0, 1.0)
                weight = capped
            if spread is not None:
                spreads.append(spread.sum())
            self.names.append(name)
            self.params.append(param)
            self.weights.append(weight.to(param.dtype))
            self.centres.append(centre.to(param.dtype))
        self.constant: Tensor | None = None  # the value at the centres, kept so it is exact
        if spreads:
            spread = torch.stack([s.to(spreads[0].device) for s in spreads]).sum()
            if spread != 0:
                first = self.params[0]
                self.constant = (spread * scale).to(device=first.device, dtype=first.dtype)

    def __len__(self) -> int:
        return len(self.params)

    def __call__(self) -> Tensor:
        """The penalty, differentiable with respect to the parameters."""
        if not self.params:
            raise ValueError("an empty penalty has no value; check len(penalty) first")
        value = _WeightedSquaredDistance.apply(self.weights, self.centres, *self.params)
        return value if self.constant is None else value + self.constant

    @torch.no_grad()
    def add_gradient(self, into: Mapping[str, Tensor], alpha: float) -> None:
        """Add ``alpha`` times this penalty's gradient ``2 W (theta - centre)`` to ``into``
        (tensors named and shaped like the parameters), without a backward pass."""
        for name, param, weight, centre in zip(
            self.names, self.params, self.weights, self.centres, strict=True
        ):
            into[name].add_(weight * (param - centre), alpha=2 * alpha)


def sgd_weight_limits(optimizer: torch.optim.Optimizer) -> dict[int, float]:
    """The largest penalty weight each parameter's SGD step can follow, by ``id(param)``.

    A step of plain SGD on ``w (theta - c)^2`` multiplies ``theta - c`` by ``1 - 2 lr w``:
    ``w = 1 / (2 lr)`` lands on the centre in one step, a stiffer weight overshoots it, and
    beyond ``1 / lr`` every step grows the distance until the weights are inf, then NaN.
    Importances are not bounded (Synaptic Intelligence's ``omega / (delta^2 + xi)`` is huge
    for a parameter that wandered but ended where it started; MAS's grows with the scale of
    the outputs), so with ``torch.optim.SGD`` (momentum included) each weight is capped at
    ``1 / (2 lr)`` of its parameter's group: where the cap binds, the penalty already holds
    the parameter at its centre as firmly as a step can. Weights below it are unchanged.
    Adaptive optimizers (Adam, ...) take steps of about ``lr`` whatever the gradient's scale,
    so a stiff penalty cannot make them diverge and is left as it is (empty result).
    """
    if not isinstance(optimizer, torch.optim.SGD):
        return {}
    return {
        id(param): 1 / (2 * float(group["lr"]))
        for group in optimizer.param_groups
        if float(group["lr"]) > 0
        for param in group["params"]
    }


class _WeightedSquaredDistance(torch.autograd.Function):
    """``sum_i w_i (theta_i - c_i)^2`` over a list of parameters as one autograd node, with
    multi-tensor kernels: cheaper per step than a graph of small element-wise operations."""

    @staticmethod
    def forward(ctx, weights: list[Tensor], centres: list[Tensor], *params: Tensor) -> Tensor:
        distances = torch._foreach_sub(params, centres)
        weighted = torch._foreach_mul(distances, weights)
        ctx.save_for_backward(*weighted)
        dots = [
            torch.dot(w.reshape(-1), d.reshape(-1))
            for w, d in zip(weighted, distances, strict=True)
        ]
        return torch.stack(dots).sum()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        grads = torch._foreach_mul(ctx.saved_tensors, 2 * grad_output)
        return (None, None, *grads)


class PathIntegral:
    """The running sum of ``-g * delta_theta`` per parameter over optimizer steps.

    This is Synaptic Intelligence's small omega (Zenke et al., 2017), also the numerator
    of RWalk's scores: how much each parameter's moves lowered the task loss. ``g`` is the
    gradient of the task loss before the step, so the gradient of the method's own penalty
    is taken out (analytically, without a second backward pass); ``delta_theta`` runs from
    before the optimizer step to after it, whatever the optimizer.
    """

    def __init__(self, params: Mapping[str, nn.Parameter]):
        self.params: dict[str, Tensor] = dict(params)
        self.gradient = fit_all({}, self.params)
        self.total = fit_all({}, self.params)
        self._lists: tuple[list[Tensor], ...] = (
            list(self.params.values()),
            list(self.gradient.values()),
            list(self.total.values()),
            list(fit_all({}, self.params).values()),  # the parameters before the step
        )

    @torch.no_grad()
    def record_gradient(self, penalty: QuadraticPenalty | None) -> None:
        """After backward: keep the task-loss gradient and the parameters before the step."""
        for name, param in self.params.items():
            if param.grad is None:  # a parameter the loss did not reach, e.g. an idle head
                self.gradient[name].zero_()
            else:
                self.gradient[name].copy_(param.grad)
        if penalty is not None:
            penalty.add_gradient(self.gradient, alpha=-1.0)
        params, _, _, before = self._lists
        torch._foreach_copy_(before, params)

    @torch.no_grad()
    def record_step(self) -> None:
        """After the optimizer step: add ``-g * (theta_after - theta_before)``."""
        params, gradient, total, before = self._lists
        torch._foreach_sub_(before, params)  # now minus the step
        torch._foreach_addcmul_(total, gradient, before)

    def reset(self) -> None:
        """Start a new sum (RWalk sums over intervals)."""
        torch._foreach_zero_(self._lists[2])


def gradient_importance(
    model: nn.Module,
    params: Mapping[str, nn.Parameter],
    data: Any,
    *,
    objective: Callable[[Tensor, Tensor], Tensor],
    statistic: Callable[[Tensor], Tensor],
    batch_size: int,
    device: torch.device,
) -> ParamTensors:
    """Mean over minibatches of ``data`` of ``statistic(d objective(output, y) / d theta)``.

    ``torch.square`` of the log-likelihood's gradient gives EWC's empirical Fisher,
    ``torch.abs`` of the output norm's gradient MAS's importance. Gradients come from
    ``torch.autograd.grad``, so the ``.grad`` the optimizer owns is untouched, and the model
    runs in eval mode, so dropout is off and batch-norm statistics do not move. Under
    distributed training each rank takes its share of the minibatches and the sums are
    all-reduced, so every rank ends with the same mean (a collective: every rank calls it).
    """
    names, tensors = list(params), list(params.values())
    totals = [torch.zeros_like(p, memory_format=torch.contiguous_format) for p in tensors]
    was_training, batches = model.training, 0
    model.eval()
    try:
        for batch in make_loader(data, batch_size, shuffle=False, shard=True):
            x, y, t = (part.to(device, non_blocking=True) for part in batch[:3])
            with torch.enable_grad():
                loss = objective(forward_with_tasks(model, x, t), y)
                grads = torch.autograd.grad(loss, tensors, allow_unused=True)
            for total, grad in zip(totals, grads, strict=True):
                if grad is not None:
                    total.add_(statistic(grad))
            batches += 1
    finally:
        model.train(was_training)
    if distributed.world_size() > 1:
        batches = int(distributed.sum_over_ranks([batches])[0])
        for total in totals:
            distributed.all_reduce_sum(total)
    if batches:
        torch._foreach_div_(totals, batches)
    return dict(zip(names, totals, strict=True))


def tensors_from_state(state: Any, what: str) -> ParamTensors:
    """Named tensors read back from a checkpoint, rejecting anything else clearly."""
    if not isinstance(state, Mapping) or not all(
        isinstance(name, str) and isinstance(value, Tensor) for name, value in state.items()
    ):
        raise CheckpointError(f"{what} must map parameter names to tensors")
    return detached_copy(state)


def require_keys(state: Mapping[str, Any], keys: Iterable[str], owner: str) -> None:
    """Raise ``CheckpointError`` naming the keys a plugin's state lacks."""
    missing = sorted(set(keys) - set(state))
    if missing:
        raise CheckpointError(f"{owner} state lacks {', '.join(missing)}")
