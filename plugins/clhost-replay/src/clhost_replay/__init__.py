"""Experience Replay: rehearse a memory of past samples alongside each new minibatch."""

from clhost_replay.loaders import TaskBalancedReplayLoader
from clhost_replay.plugin import ReplayPlugin
from clhost_replay.strategy import Replay

__all__ = ["Replay", "ReplayPlugin", "TaskBalancedReplayLoader"]
