"""Deep Generative Replay (Shin, Lee, Kim & Kim, NeurIPS 2017) for clhost."""

from clhost_generative_replay.plugin import GenerativeReplayPlugin, TrainGeneratorAfterExpPlugin
from clhost_generative_replay.strategy import GenerativeReplay, VAETraining
from clhost_generative_replay.vae import VAE

__all__ = [
    "VAE",
    "GenerativeReplay",
    "GenerativeReplayPlugin",
    "TrainGeneratorAfterExpPlugin",
    "VAETraining",
]
