"""Batch renormalization (Ioffe, "Batch Renormalization: Towards Reducing Minibatch
Dependence in Batch-Normalized Models", NeurIPS 2017): batch norm whose training output
is corrected towards the moving statistics, so small or non-i.i.d. minibatches (the
continual-learning case; AR1 uses it) do not train on statistics the model will never
see at test time.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from clhost.validate import number, positive_int


class BatchRenorm(nn.Module):
    """A drop-in for ``nn.BatchNorm1d/2d/3d`` (features on dimension 1).

    Training, with the minibatch's ``mu_B`` and ``sigma_B = sqrt(var_B + eps)`` per
    feature (biased variance) and the moving ``mu``, ``sigma``::

        r = clip(sigma_B / sigma, 1 / r_max, r_max)          (no gradient through r, d)
        d = clip((mu_B - mu) / sigma, -d_max, d_max)
        y = weight * ((x - mu_B) / sigma_B * r + d) + bias
        mu += momentum * (mu_B - mu);  sigma += momentum * (sigma_B - sigma)

    then ``r_max`` and ``d_max`` grow by ``r_d_max_inc_step`` up to ``max_r_max`` and
    ``max_d_max`` (the paper relaxes them gradually from 1 and 0: the layer starts as
    batch norm). Evaluation: ``y = weight * (x - mu) / sigma + bias``. The moving
    statistics and the current ``r_max``/``d_max`` are buffers, so checkpoints hold them;
    ``momentum`` and the schedule are settings (``set_renorm`` changes them).
    """

    running_mean: Tensor
    running_std: Tensor
    r_max: Tensor
    d_max: Tensor

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.01,
        r_max: float = 1.0,
        d_max: float = 0.0,
        max_r_max: float = 3.0,
        max_d_max: float = 5.0,
        r_d_max_inc_step: float = 1e-4,
    ):
        super().__init__()
        self.num_features = positive_int("num_features", num_features)
        self.eps = number("eps", eps, low=0.0, low_open=True)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_std", torch.ones(num_features))
        self.register_buffer("r_max", torch.tensor(float(r_max)))
        self.register_buffer("d_max", torch.tensor(float(d_max)))
        self.momentum = 0.0
        self.max_r_max = self.max_d_max = self.r_d_max_inc_step = 0.0
        set_renorm(
            self,
            momentum=momentum,
            max_r_max=max_r_max,
            max_d_max=max_d_max,
            r_d_max_inc_step=r_d_max_inc_step,
        )

    @classmethod
    def from_batch_norm(
        cls, norm: nn.modules.batchnorm._BatchNorm, **settings: float
    ) -> BatchRenorm:
        """A ``BatchRenorm`` with ``norm``'s affine parameters, moving statistics and mode."""
        renorm = cls(norm.num_features, eps=norm.eps, **settings)
        with torch.no_grad():
            if norm.affine:
                renorm.weight.copy_(norm.weight)
                renorm.bias.copy_(norm.bias)
            if norm.running_mean is not None and norm.running_var is not None:
                renorm.running_mean.copy_(norm.running_mean)
                renorm.running_std.copy_((norm.running_var + norm.eps).sqrt())
        renorm.train(norm.training)
        return renorm.to(norm.weight.device if norm.affine else "cpu")

    def forward(self, x: Tensor) -> Tensor:
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean, std = self.running_mean.view(shape), self.running_std.view(shape)
        if self.training:
            dims = [0, *range(2, x.dim())]
            batch_mean = x.mean(dims, keepdim=True)
            batch_std = (x.var(dims, unbiased=False, keepdim=True) + self.eps).sqrt()
            with torch.no_grad():
                r = (batch_std / std).clamp(1 / self.r_max, self.r_max)
                d = ((batch_mean - mean) / std).clamp(-self.d_max, self.d_max)
                self.running_mean.lerp_(batch_mean.view(-1), self.momentum)
                self.running_std.lerp_(batch_std.view(-1), self.momentum)
                self.r_max.add_(self.r_d_max_inc_step).clamp_(max=self.max_r_max)
                self.d_max.add_(self.r_d_max_inc_step).clamp_(max=self.max_d_max)
            normalized = (x - batch_mean) / batch_std * r + d
        else:
            normalized = (x - mean) / std
        return normalized * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"r_max={float(self.r_max):g}/{self.max_r_max:g}, "
            f"d_max={float(self.d_max):g}/{self.max_d_max:g}"
        )


def set_renorm(
    model: nn.Module,
    *,
    momentum: float | None = None,
    r_max: float | None = None,
    d_max: float | None = None,
    max_r_max: float | None = None,
    max_d_max: float | None = None,
    r_d_max_inc_step: float | None = None,
) -> None:
    """Change the settings given (not ``None``) of every ``BatchRenorm`` in ``model``."""
    if momentum is not None:
        number("momentum", momentum, low=0.0, high=1.0)
    for name, value in (("r_max", r_max), ("max_r_max", max_r_max)):
        if value is not None:
            number(name, value, low=1.0)
    for name, value in (("d_max", d_max), ("max_d_max", max_d_max), ("step", r_d_max_inc_step)):
        if value is not None:
            number(name, value, low=0.0)
    for module in model.modules():
        if not isinstance(module, BatchRenorm):
            continue
        for name, value in (
            ("momentum", momentum),
            ("max_r_max", max_r_max),
            ("max_d_max", max_d_max),
            ("r_d_max_inc_step", r_d_max_inc_step),
        ):
            if value is not None:
                setattr(module, name, float(value))
        if r_max is not None:
            module.r_max.fill_(r_max)
        if d_max is not None:
            module.d_max.fill_(d_max)


def replace_batch_norm(model: nn.Module, **settings: float) -> int:
    """Replace every batch-norm layer of ``model`` by a ``BatchRenorm`` with its
    parameters and statistics (``settings`` go to ``BatchRenorm``); returns how many."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, BatchRenorm.from_batch_norm(child, **settings))
                replaced += 1
    return replaced
