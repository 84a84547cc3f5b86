"""Ready-made strategies: the VAE's own training, and the solver with generative replay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from clhost.data import Experience
from clhost.templates import SupervisedTemplate
from clhost.validate import number, positive_int
from clhost_generative_replay.plugin import GenerativeReplayPlugin, TrainGeneratorAfterExpPlugin
from clhost_generative_replay.vae import VAE


class VAETraining(SupervisedTemplate):
    """Trains a ``VAE`` on the inputs of each experience (labels are ignored).

    It replays its own generated samples (``replay_size``, ``increasing_replay_size`` as
    in ``GenerativeReplayPlugin``), so one generator covers the stream.
    """

    def __init__(
        self,
        *,
        replay_size: int | None = None,
        increasing_replay_size: bool = True,
        **kwargs: Any,
    ):
        kwargs.setdefault("evaluator", None)
        replay = GenerativeReplayPlugin(
            replay_size=replay_size, increasing_replay_size=increasing_replay_size
        )
        super().__init__(plugins=[replay, *kwargs.pop("plugins", ())], **kwargs)

    def forward(self) -> Any:
        return self.model(self.mb_x)

    def criterion(self) -> Tensor:
        return self.model.loss(self.mb_output, self.mb_x)


class GenerativeReplay(SupervisedTemplate):
    """Deep Generative Replay: a solver trained with samples of a VAE trained alongside.

    The VAE is built at the first experience from its input shape unless ``generator``
    is given; it trains ``generator_epochs`` epochs per experience with Adam. Solver and
    generator mix current and replayed data in one ratio (Shin et al.: the importance of
    the new task): both replay ``replay_size`` samples per minibatch, or as many as the
    minibatch, times the past experiences with ``increasing_replay_size``.
    """

    def __init__(
        self,
        *,
        generator: VAE | None = None,
        latent_dim: int = 8,
        generator_hidden_sizes: Sequence[int] = (128,),
        generator_epochs: int = 30,
        generator_lr: float = 3e-3,
        replay_size: int | None = None,
        increasing_replay_size: bool = True,
        **kwargs: Any,
    ):
        self.latent_dim = positive_int("latent_dim", latent_dim)
        self.generator_hidden_sizes = tuple(generator_hidden_sizes)
        self.generator_epochs = positive_int("generator_epochs", generator_epochs)
        self.generator_lr = number("generator_lr", generator_lr, low=0, low_open=True)
        self.replay = GenerativeReplayPlugin(
            replay_size=replay_size, increasing_replay_size=increasing_replay_size
        )
        self.train_generator = TrainGeneratorAfterExpPlugin()
        plugins = [self.replay, self.train_generator, *kwargs.pop("plugins", ())]
        super().__init__(plugins=plugins, **kwargs)
        if generator is not None:
            self._attach_generator(generator)

    def model_adaptation(self, experience: Experience) -> None:
        """Build the generator from the first experience's inputs. Adaptation (not
        training) is the place, because restoring a checkpoint replays it, so the
        generator exists before its saved weights are loaded."""
        if self.train_generator.generator_strategy is None:
            sample = experience.dataset[0][0]
            bounded = bool(sample.min() >= 0 and sample.max() <= 1)
            self._attach_generator(
                VAE(tuple(sample.shape), self.latent_dim, self.generator_hidden_sizes, bounded)
            )
        super().model_adaptation(experience)

    def _attach_generator(self, generator: VAE) -> None:
        generator_strategy = VAETraining(
            replay_size=self.replay.replay_size,
            increasing_replay_size=self.replay.increasing_replay_size,
            model=generator,
            optimizer=torch.optim.Adam(generator.parameters(), lr=self.generator_lr),
            train_mb_size=self.train_mb_size,
            train_epochs=self.generator_epochs,
            device=self.device,
        )
        self.replay.generator_strategy = generator_strategy
        self.train_generator.generator_strategy = generator_strategy
