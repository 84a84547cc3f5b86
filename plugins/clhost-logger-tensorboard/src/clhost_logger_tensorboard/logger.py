"""The TensorBoard logger: each metric a scalar series, written by torch's SummaryWriter."""

from __future__ import annotations

from pathlib import Path

from clhost import validate
from clhost.errors import ParameterError
from clhost.evaluation import Logger, MetricEvent
from clhost.evaluation.loggers import Every, granularity


class TensorboardLogger(Logger):
    """Writes every metric as a TensorBoard scalar under ``tb_log_dir`` (Avalanche's
    ``TensorboardLogger`` and parameter names).

    Each metric is one series, named by where it was measured
    (``MetricEvent.scalars()``: ``train_epoch/loss``, ``eval_exp/test/exp_1/accuracy``,
    ``run/forgetting``), with the global training iteration as its step, so curves of
    every experience line up on one axis. The event file is flushed after every event, so
    a killed run leaves what it logged readable; a resumed run adds a new event file to
    the same folder, which TensorBoard reads as one run. ``filename_suffix`` ends the event
    file's name; ``every`` is ``experience``, ``epoch`` or ``iteration``.
    """

    def __init__(
        self,
        tb_log_dir: Path = Path("tb_data"),
        *,
        filename_suffix: str = "",
        every: Every = "epoch",
    ):
        self.tb_log_dir = validate.path("tb_log_dir", tb_log_dir)
        if not isinstance(filename_suffix, str):
            raise ParameterError(f"filename_suffix must be a string, got {filename_suffix!r}")
        self.every = granularity(every)
        from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: lazily

        try:
            self._writer: SummaryWriter | None = SummaryWriter(
                log_dir=str(self.tb_log_dir), filename_suffix=filename_suffix
            )
        except OSError as error:
            raise ParameterError(
                f"tb_log_dir {self.tb_log_dir}: cannot write there: {error.strerror or error}"
            ) from None

    def log(self, event: MetricEvent) -> None:
        if self._writer is None:
            raise ValueError("logger is closed")
        for name, value in event.scalars().items():
            self._writer.add_scalar(name, value, global_step=event.iteration)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = None
