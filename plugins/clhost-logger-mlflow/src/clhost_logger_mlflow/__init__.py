"""A clhost logger recording a run's metrics in MLflow tracking."""

from clhost_logger_mlflow.logger import MLflowLogger

__all__ = ["MLflowLogger"]
