"""A clhost logger sending a run's metrics to Weights & Biases."""

from clhost_logger_wandb.logger import WandBLogger

__all__ = ["WandBLogger"]
