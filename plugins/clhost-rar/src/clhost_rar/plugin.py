"""RARPlugin: replay buffered samples and their adversarial copies pushed toward the
current classes, through named loss terms."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from clhost import hookimpl
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.data import TensorData
from clhost.deprecation import renamed
from clhost.distributed import REPLICATED, my_share
from clhost.errors import ParameterError
from clhost.importance import require_keys
from clhost.models import MultiTaskModule, forward_with_tasks
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import ExemplarsBuffer
from clhost.validate import boolean, number, one_of, positive_int
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_rar.adversarial import (
    forward_with_latent,
    latent_layer,
    nearest_neighbours,
    targeted_fgsm,
)
from clhost_rar.mixup import mixup

ReplayWeighting = Literal["separate", "joint"]
REPLAY_WEIGHTINGS = ("separate", "joint")


class RARPlugin(SupervisedPlugin):
    """Retrospective Adversarial Replay (Kumari, Wang, Zhou and Bilmes, NeurIPS 2022,
    "Retrospective Adversarial Replay for Continual Learning").

    Every iteration ``batch_size_mem`` samples drawn from the memory are replayed with
    the cross-entropy ("rar-replay"). With ``use_adversarial_replay``, each of them is
    paired with its nearest neighbour of another class in the current minibatch (latent
    features of ``name_ext_layer``) and moved toward that neighbour's class by a targeted
    iterative FGSM (``iter_fgsm`` steps of size ``epsilon_fgsm``, times
    ``decay_factor_fgsm`` after each step), keeping its own label: such samples lie near
    the boundary the current task pushes into the old classes, and replaying them with
    weight ``beta_coef`` ("rar-adversarial") holds that boundary in place. With
    ``use_mixup`` the replayed samples are mixed pairwise (MixUp, ``mixup_alpha``).

    ``replay_weighting`` says how the replayed samples weigh against the current
    minibatch: ``"separate"``, a mean cross-entropy of their own added to the current
    loss; ``"joint"``, one mean over the current and replayed samples together, as in
    experience replay's joined minibatch (Chaudhry et al. 2019) and Avalanche: the
    "rar-replay" term is then the change that joining makes to the strategy's loss, and
    the adversarial term weighs relatively more (twice, for equal minibatches).

    The memory (default: a class-balanced buffer of ``mem_size`` samples) takes its share
    of each experience after training on it. Pairing and the attack run in eval mode,
    so dropout does not blur them and batch-norm statistics do not see adversarial inputs.

    Under DDP each rank replays its part of the memory minibatch rank 0 drew, and pairs
    it with neighbours in its own part of the current minibatch.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "rar"
    distributed = REPLICATED  # rank 0's memory, broadcast after each experience

    @renamed(buffer="storage_policy", layer_name="name_ext_layer")
    def __init__(
        self,
        batch_size_mem: int = 10,
        mem_size: int = 200,
        name_ext_layer: str | None = None,
        use_adversarial_replay: bool = True,
        beta_coef: float = 0.4,
        decay_factor_fgsm: float = 1.0,
        epsilon_fgsm: float = 0.0314,
        iter_fgsm: int = 2,
        use_mixup: bool = False,
        mixup_alpha: float = 0.2,
        storage_policy: ExemplarsBuffer | None = None,
        replay_weighting: ReplayWeighting = "separate",
    ):
        self.batch_size_mem = positive_int("batch_size_mem", batch_size_mem)
        self.mem_size = positive_int("mem_size", mem_size)
        self.iter_fgsm = positive_int("iter_fgsm", iter_fgsm)
        self.use_adversarial_replay = boolean("use_adversarial_replay", use_adversarial_replay)
        self.use_mixup = boolean("use_mixup", use_mixup)
        self.beta_coef = number("beta_coef", beta_coef, low=0.0)
        self.decay_factor_fgsm = number(
            "decay_factor_fgsm", decay_factor_fgsm, low=0.0, low_open=True
        )
        self.epsilon_fgsm = number("epsilon_fgsm", epsilon_fgsm, low=0.0, low_open=True)
        self.mixup_alpha = number("mixup_alpha", mixup_alpha, low=0.0, low_open=True)
        self.replay_weighting = one_of("replay_weighting", replay_weighting, REPLAY_WEIGHTINGS)
        if name_ext_layer is not None and (
            not isinstance(name_ext_layer, str) or not name_ext_layer
        ):
            raise ParameterError(
                f"name_ext_layer must be a module name or None, got {name_ext_layer!r}"
            )
        self.name_ext_layer = name_ext_layer
        if storage_policy is None:
            storage_policy = ClassBalancedBuffer(mem_size, adaptive_size=True)
        elif not isinstance(storage_policy, ExemplarsBuffer):
            raise ParameterError(
                f"storage_policy must be an ExemplarsBuffer, got {type(storage_policy).__name__}"
            )
        self.storage_policy = storage_policy
        if self.storage_policy.max_size != mem_size:
            raise ParameterError(
                f"storage_policy holds {self.storage_policy.max_size} samples but "
                f"mem_size={mem_size}; pass the same size to both"
            )
        self._memory: TensorData | None = None  # the buffer on the device, per experience

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        latent_layer(strategy.model, self.name_ext_layer)  # a wrong name fails here

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        self._memory = (
            self.storage_policy.buffer.to(strategy.device) if len(self.storage_policy) else None
        )

    @hookimpl
    def clhost_loss_terms(self, strategy: Any) -> list[tuple[str, Tensor]] | None:
        if self._memory is None:
            return None
        memory = self._memory
        drawn = torch.randperm(len(memory), device=memory.y.device)[: self.batch_size_mem]
        chosen = my_share(drawn)  # under DDP: this rank's part of rank 0's draw
        x, y, t = memory.x[chosen], memory.y[chosen], memory.t[chosen]
        model, multi_task = strategy.model, isinstance(strategy.model, MultiTaskModule)
        adversarial = None
        if self.use_adversarial_replay and self.beta_coef > 0:
            adversarial = self.adversarial_samples(model, (x, y, t), strategy.mbatch[:3])
        inputs, partner, lam = x, None, None
        if self.use_mixup:
            inputs, partner, lam = mixup(x, t, self.mixup_alpha, same_task=multi_task)
        if adversarial is not None:
            adv_x, adv_y, adv_t = adversarial
            output = forward_with_tasks(model, torch.cat((inputs, adv_x)), torch.cat((t, adv_t)))
            output, adv_output = output[: len(x)], output[len(x) :]
        else:
            output = forward_with_tasks(model, inputs, t)
        if partner is not None and lam is not None:
            replay = lam * F.cross_entropy(output, y) + (1 - lam) * F.cross_entropy(
                output, y[partner]
            )
        else:
            replay = F.cross_entropy(output, y)
        if self.replay_weighting == "joint":  # n current, m replayed: one mean over n + m
            share = len(y) / (len(y) + len(strategy.mb_y))
            replay = share * (replay - strategy.criterion())
        terms = [("rar-replay", replay)]
        if adversarial is not None:
            terms.append(("rar-adversarial", self.beta_coef * F.cross_entropy(adv_output, adv_y)))
        return terms

    def adversarial_samples(
        self,
        model: nn.Module,
        stored: tuple[Tensor, Tensor, Tensor],
        current: tuple[Tensor, Tensor, Tensor],
    ) -> tuple[Tensor, Tensor, Tensor] | None:
        """The buffered samples that have a neighbour of another class in ``current``,
        perturbed toward that class, with their own labels and tasks; ``None`` if none."""
        x, y, t = stored
        current_x, current_y, current_t = current
        multi_task = isinstance(model, MultiTaskModule)
        with _evaluating(model):
            with torch.no_grad():
                _, latent = forward_with_latent(
                    model, torch.cat((x, current_x)), torch.cat((t, current_t)), self.name_ext_layer
                )
            nearest, found = nearest_neighbours(
                latent[: len(x)],
                latent[len(x) :],
                y,
                current_y,
                t if multi_task else None,
                current_t if multi_task else None,
            )
            keep = found.nonzero().squeeze(1)
            if len(keep) == 0:
                return None
            x, y, t = x[keep], y[keep], t[keep]
            perturbed = targeted_fgsm(
                model,
                x,
                t,
                current_y[nearest[keep]],
                epsilon=self.epsilon_fgsm,
                iterations=self.iter_fgsm,
                decay=self.decay_factor_fgsm,
            )
        return perturbed, y, t

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        self.storage_policy.update(strategy)
        self._memory = None

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.storage_policy.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        require_keys(state, ("buffer",), "RARPlugin")
        self.storage_policy.load_state_dict(state["buffer"])
        self._memory = None


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
