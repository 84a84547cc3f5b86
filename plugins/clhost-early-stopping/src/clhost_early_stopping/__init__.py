"""Early stopping for clhost: stop an experience when a validation metric stops improving."""

from clhost_early_stopping.plugin import EarlyStoppingPlugin

__all__ = ["EarlyStoppingPlugin"]
