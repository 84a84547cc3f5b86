"""Learning-rate schedules for clhost: any torch scheduler, stepped and reset per experience."""

from clhost_lr_scheduler.plugin import LRSchedulerPlugin
from clhost_lr_scheduler.schedulers import SCHEDULERS, SchedulerName, build_scheduler

__all__ = ["SCHEDULERS", "LRSchedulerPlugin", "SchedulerName", "build_scheduler"]
