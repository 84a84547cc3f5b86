"""A clhost logger writing a run's metrics as CSV."""

from clhost_logger_csv.logger import CSVLogger

__all__ = ["CSVLogger"]
