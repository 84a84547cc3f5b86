"""A clhost logger writing a run's metrics as TensorBoard scalars."""

from clhost_logger_tensorboard.logger import TensorboardLogger

__all__ = ["TensorboardLogger"]
