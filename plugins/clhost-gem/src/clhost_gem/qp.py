"""GEM's gradient projection and the small quadratic program behind it.

Projecting the gradient ``g`` onto ``{z : G z >= 0}`` (one row of ``G`` per past
experience) is solved through its dual, a QP with one variable per past experience:

    minimize 1/2 v' P v + c' v  subject to v >= margin,   P = G G', c = G g,

after which ``z = g + G' v``. At the optimum ``P v + c = G z >= 0``: every constraint
holds. The dual is small (a handful of variables), so it is solved exactly by an
active-set method instead of depending on a QP library.
"""

from __future__ import annotations

import torch
from torch import Tensor

TOLERANCE = 1e-10  # relative to the scale of P and c
RIDGE = 1e-3  # added to the Gram matrix's diagonal by GEM's reference code (quadprog needs it)


class QPNotConverged(RuntimeError):
    """The active-set method ran out of iterations (rounding made it cycle)."""


def nonnegative_qp(matrix: Tensor, linear: Tensor, max_iterations: int | None = None) -> Tensor:
    """``argmin_{u >= 0} 1/2 u' P u + c' u`` for a symmetric positive semi-definite ``P``.

    Lawson and Hanson's active-set method (their NNLS algorithm, written for the normal
    equations): grow the set of free variables by the one whose gradient is most
    negative, solve the unconstrained problem on that set, and step back towards the
    feasible region whenever a free variable would turn negative. It ends when no
    variable could lower the objective, which is the exact optimum up to rounding.
    Give float64 CPU tensors: the tolerances assume float64, and only the CPU's least
    squares solves the singular systems a Gram matrix of dependent gradients yields.
    """
    size = linear.numel()
    # Scaling P and c together leaves the minimiser unchanged and makes tolerances relative.
    scale = max(float(matrix.diagonal().abs().max()), float(linear.abs().max()), 1e-300)
    P, c = matrix / scale, linear / scale
    u = torch.zeros_like(c)
    free = torch.zeros(size, dtype=torch.bool, device=c.device)
    iterations = max_iterations or 3 * size + 10
    for _ in range(iterations):
        descent = -(P @ u + c)
        candidates = descent.masked_fill(free, -torch.inf)
        best = int(candidates.argmax())
        if not candidates[best] > TOLERANCE:
            return u
        free[best] = True
        u = _solve_on_free_set(P, c, u, free)
    raise QPNotConverged(f"nonnegative_qp did not converge in {iterations} iterations")


def _solve_on_free_set(P: Tensor, c: Tensor, u: Tensor, free: Tensor) -> Tensor:
    """Minimise over the free variables, the others fixed at zero, without leaving
    ``u >= 0``: step from ``u`` towards the unconstrained minimiser and release every
    variable that reaches zero on the way. ``free`` is updated in place."""
    while True:
        index = free.nonzero().squeeze(1)
        target = torch.zeros_like(u)
        sub = P[index][:, index]
        target[index] = torch.linalg.lstsq(sub, -c[index].unsqueeze(1)).solution.squeeze(1)
        if bool((target[index] > TOLERANCE).all()):
            return target
        blocking = free & (target <= TOLERANCE)
        ratios = (u[blocking] / (u[blocking] - target[blocking])).nan_to_num(0.0)
        u = u + float(ratios.min().clamp(0, 1)) * (target - u)
        free &= u > TOLERANCE
        u = u.masked_fill(~free, 0.0)
        if not bool(free.any()):
            return u


def gem_dual(gram: Tensor, linear: Tensor, margin: float = 0.0) -> Tensor:
    """``argmin_{v >= margin} 1/2 v' P v + c' v``: the dual of GEM's projection.

    Substituting ``v = margin + u`` leaves a non-negative QP in ``u`` whose linear term
    is ``c + margin * P 1``.
    """
    shifted = linear + margin * gram.sum(dim=1)
    return margin + nonnegative_qp(gram, shifted)


def project_to_constraints(gradient: Tensor, constraints: Tensor, margin: float = 0.0) -> Tensor:
    """The gradient closest to ``gradient`` whose dot product with every row of
    ``constraints`` is non-negative; ``gradient`` itself when it already is.

    ``margin`` (GEM's memory strength) is a lower bound on the dual variables: the
    larger it is, the further the result leans towards the past experiences' gradients.
    The dual has one variable per constraint, so it is solved on the CPU in float64:
    one small transfer instead of many tiny device kernels and synchronisations. Its
    inputs, the Gram matrix ``G G'`` and ``G g``, are computed in the gradients' own
    precision (no float64 copy of ``G``) and then widened. Many nearly dependent
    constraints (e.g. one per online piece) make that Gram matrix close to singular and
    the exact solver may cycle: the dual is then solved as GEM's reference code solves
    every one, from float64 products with ``RIDGE`` added to the diagonal.
    """
    linear = constraints @ gradient
    if not bool((linear < 0).any()):
        return gradient
    gram = constraints @ constraints.T
    try:
        dual = gem_dual(gram.double().cpu(), linear.double().cpu(), margin)
    except QPNotConverged:
        wide = constraints.double()
        ridge = RIDGE * torch.eye(len(wide), dtype=wide.dtype, device=wide.device)
        ridged = wide @ wide.T + ridge
        dual = gem_dual(ridged.cpu(), (wide @ gradient.double()).cpu(), margin)
    return gradient + constraints.T @ dual.to(constraints.device, constraints.dtype)
