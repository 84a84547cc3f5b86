"""Deep Generative Replay's two plugins: replay generated samples, train the generator."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

import clhost
from clhost.capabilities import REHEARSAL, Capabilities
from clhost.errors import PluginCompositionError
from clhost.models import MultiTaskModule
from clhost.plugin import SupervisedPlugin
from clhost.templates.state import keyed, legacy_keys, with_current_keys
from clhost.validate import boolean, positive_int


class GenerativeReplayPlugin(SupervisedPlugin):
    """Adds generated samples of past experiences to every training minibatch.

    Before each experience after the first, frozen copies of the generator and (for a
    solver) of the model are taken. Each minibatch is then joined with ``replay_size``
    generated inputs (default: as many as the minibatch; with ``increasing_replay_size``,
    that many per past experience, so old experiences keep their share of the loss),
    labelled by the frozen solver's predictions (Shin et al. 2017).

    Attached to the generator's own strategy (``generator_strategy=None``), the generator
    replays its own samples so it does not forget how to generate old data.
    """

    capabilities = Capabilities(provides={REHEARSAL})

    state_key = "generative-replay"
    distributed = "unsupported"
    distributed_reason = (
        "its generator is trained by a second strategy (VAETraining), whose loop does not "
        "run across ranks yet"
    )

    def __init__(
        self,
        generator_strategy: Any = None,
        replay_size: int | None = None,
        increasing_replay_size: bool = False,
    ):
        self.generator_strategy = generator_strategy
        self.replay_size = None if replay_size is None else positive_int("replay_size", replay_size)
        self.increasing_replay_size = boolean("increasing_replay_size", increasing_replay_size)
        self.experiences_seen = 0
        self.old_generator: nn.Module | None = None
        self.old_solver: nn.Module | None = None

    @clhost.hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        if isinstance(strategy.model, MultiTaskModule):
            raise PluginCompositionError(
                "generative replay labels generated samples with one solver; it does not "
                "support multi-task models"
            )
        if self.experiences_seen == 0:
            return
        generator = (self.generator_strategy or strategy).model
        self.old_generator = _frozen_copy(generator)
        self.old_solver = _frozen_copy(strategy.model) if self.generator_strategy else None

    @clhost.hookimpl
    def clhost_before_training_iteration(self, strategy: Any) -> None:
        if self.old_generator is None:
            return
        x, y, t = strategy.mbatch[:3]
        count = self.replay_size or len(x)
        if self.increasing_replay_size:
            count *= self.experiences_seen
        with torch.no_grad():
            replay_x = self.old_generator.generate(count).to(x.dtype)
            if self.old_solver is not None:
                replay_y = self.old_solver(replay_x).argmax(dim=1)
            else:
                replay_y = torch.zeros(count, dtype=y.dtype, device=y.device)
        replay_t = torch.zeros(count, dtype=t.dtype, device=t.device)
        strategy.mbatch = (
            torch.cat((x, replay_x)),
            torch.cat((y, replay_y)),
            torch.cat((t, replay_t)),
        )

    @clhost.hookimpl
    def clhost_after_training_exp(self) -> None:
        self.experiences_seen += 1
        self.old_generator = self.old_solver = None

    def state_dict(self) -> dict[str, Any]:
        return {"experiences_seen": self.experiences_seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.experiences_seen = int(state["experiences_seen"])


class TrainGeneratorAfterExpPlugin(SupervisedPlugin):
    """After the solver trains on an experience, train the generator on the same one."""

    state_key = "train-generator-after-exp"
    distributed = "unsupported"
    distributed_reason = GenerativeReplayPlugin.distributed_reason

    def __init__(self, generator_strategy: Any = None):
        self.generator_strategy = generator_strategy

    @clhost.hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        if self.generator_strategy is None:
            raise PluginCompositionError("TrainGeneratorAfterExpPlugin needs a generator_strategy")
        self.generator_strategy.train(strategy.experience)

    def state_dict(self) -> dict[str, Any]:
        generator = self.generator_strategy
        if generator is None:
            return {}
        return {
            "model": generator.model.state_dict(),
            "optimizer": generator.optimizer.state_dict(),
            "replay": {key: p.state_dict() for key, p in keyed(generator.plugins).items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        generator = self.generator_strategy
        if generator is None:
            raise ValueError("cannot restore a generator before it exists")
        generator.model.load_state_dict(state["model"])
        generator.optimizer.load_state_dict(state["optimizer"])
        plugins = keyed(generator.plugins)  # states saved under class-name keys load too
        saved = with_current_keys(state["replay"], plugins, legacy_keys(generator.plugins))
        for key, plugin in plugins.items():
            plugin.load_state_dict(saved[key])


def _frozen_copy(model: nn.Module) -> nn.Module:
    frozen = copy.deepcopy(model).eval()
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)
    return frozen
