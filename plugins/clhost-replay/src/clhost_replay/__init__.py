"""Experience Replay: rehearse a memory of past samples alongside each new minibatch."""

from clhost_replay.loaders import ReplayOptions, TaskBalancedReplayLoader, replay_dataloader
from clhost_replay.plugin import ReplayPlugin, exemplars_buffer
from clhost_replay.strategy import Replay

__all__ = [
    "Replay",
    "ReplayOptions",
    "ReplayPlugin",
    "TaskBalancedReplayLoader",
    "exemplars_buffer",
    "replay_dataloader",
]
