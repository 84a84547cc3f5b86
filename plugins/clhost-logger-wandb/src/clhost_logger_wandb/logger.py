"""The Weights & Biases logger: one W&B run per logger, each metric a history series."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from clhost import validate
from clhost.errors import ParameterError
from clhost.evaluation import Logger, MetricEvent
from clhost.evaluation.loggers import Every, granularity

MODES = ("online", "offline", "disabled")
STEP = "iteration"  # the step metric of every series: W&B's own step counts rows


class WandBLogger(Logger):
    """Logs every metric to a new W&B run of project ``project_name`` (Avalanche's
    ``WandBLogger`` and parameter names), its files under ``dir/wandb``.

    Each metric is one history series named by where it was measured
    (``MetricEvent.scalars()``), plotted against ``iteration`` (the global training
    iteration, declared the step metric of every series). Each event is one history row,
    committed as it is logged: W&B's own step must grow with every row, while the events
    after an experience (``train_exp``, ``eval_exp``, ``eval_stream``) share an iteration,
    so a row left open until the step moved on would be lost with a killed process.
    ``mode`` is ``online``, ``offline`` (no network: the run stays on disk until
    ``wandb sync``) or ``disabled``; ``None`` leaves it to W&B
    (``WANDB_MODE``, else online). ``close()`` finishes the run, writing what is pending;
    ``every`` is ``experience``, ``epoch`` or ``iteration``.
    """

    def __init__(
        self,
        project_name: str = "clhost",
        run_name: str | None = None,
        *,
        dir: Path = Path("."),
        mode: Literal["online", "offline", "disabled"] | None = None,
        every: Every = "epoch",
    ):
        self.project_name = validate.text("project_name", project_name)
        self.run_name = None if run_name is None else validate.text("run_name", run_name)
        self.dir = validate.path("dir", dir)
        if mode is not None:
            validate.one_of("mode", mode, MODES)
        self.mode = mode
        self.every = granularity(every)
        self._run = self._start()

    def _start(self) -> Any:
        import wandb  # a heavy import: only when a W&B logger is built

        try:
            self.dir.mkdir(parents=True, exist_ok=True)  # W&B falls back to /tmp otherwise
        except OSError as error:
            raise ParameterError(f"dir {self.dir}: cannot write there: {error}") from None
        try:
            run = wandb.init(
                project=self.project_name,
                name=self.run_name,
                dir=str(self.dir),
                mode=self.mode,
                reinit="create_new",  # this logger's own run, whatever else is running
                settings=wandb.Settings(console="off"),  # leave the run's output alone
            )
        except wandb.errors.Error as error:  # not logged in, no network for "online" ...
            raise ParameterError(f"W&B could not start a run: {error}") from None
        run.define_metric(STEP)
        run.define_metric("*", step_metric=STEP)
        return run

    def log(self, event: MetricEvent) -> None:
        if self._run is None:
            raise ValueError("logger is closed")
        self._run.log({**event.scalars(), STEP: event.iteration}, commit=True)

    def close(self) -> None:
        if self._run is not None:
            self._run.finish()
        self._run = None
