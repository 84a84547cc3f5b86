"""A clhost logger writing a run's metrics as JSON lines."""

from clhost_logger_jsonl.logger import JSONLLogger

__all__ = ["JSONLLogger"]
