"""The MLflow logger: one MLflow run per logger, each metric a metric history."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from clhost import validate
from clhost.errors import ParameterError
from clhost.evaluation import Logger, MetricEvent
from clhost.evaluation.loggers import Every, granularity

# MLflow 3 keeps its file store only for those who ask for it
ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"


class MLflowLogger(Logger):
    """Records every metric in a new MLflow run of experiment ``experiment_name``, in the
    local file store ``directory`` or at ``tracking_uri`` (any MLflow tracking URI:
    ``sqlite:///mlflow.db``, ``http://server:5000``, ``file:/abs/mlruns``), which wins
    when given.

    Each metric is one metric history named by where it was measured
    (``MetricEvent.scalars()``), its step the global training iteration. Each event is
    one ``log_batch`` call, stored as it comes (a killed run keeps what it logged);
    ``close()`` marks the run finished. ``run_id`` names the run. For a file store the
    logger sets ``MLFLOW_ALLOW_FILE_STORE=true`` unless it is set: MLflow 3 refuses that
    store otherwise. ``every`` is ``experience``, ``epoch`` or ``iteration``.
    """

    def __init__(
        self,
        directory: Path = Path("mlruns"),
        *,
        tracking_uri: str | None = None,
        experiment_name: str = "clhost",
        run_name: str | None = None,
        every: Every = "epoch",
    ):
        self.directory = validate.path("directory", directory)
        if tracking_uri is not None:
            validate.text("tracking_uri", tracking_uri)
        self.tracking_uri = tracking_uri or self.directory.resolve().as_uri()
        self.experiment_name = validate.text("experiment_name", experiment_name)
        self.run_name = None if run_name is None else validate.text("run_name", run_name)
        self.every = granularity(every)
        self._client, self.run_id = self._start()
        self._open = True

    def _start(self) -> tuple[Any, str]:
        from mlflow.exceptions import MlflowException  # a heavy import: only when built
        from mlflow.tracking import MlflowClient

        if self.tracking_uri.startswith("file:"):
            os.environ.setdefault(ALLOW_FILE_STORE, "true")
        try:
            client = MlflowClient(tracking_uri=self.tracking_uri)
            experiment = client.get_experiment_by_name(self.experiment_name)
            experiment_id = (
                experiment.experiment_id
                if experiment is not None
                else client.create_experiment(self.experiment_name)
            )
            run = client.create_run(experiment_id, run_name=self.run_name)
        except (MlflowException, OSError) as error:
            raise ParameterError(f"MLflow at {self.tracking_uri}: {error}") from None
        return client, run.info.run_id

    def log(self, event: MetricEvent) -> None:
        from mlflow.entities import Metric

        if not self._open:
            raise ValueError("logger is closed")
        now = int(time.time() * 1000)
        metrics = [
            Metric(name, value, now, event.iteration) for name, value in event.scalars().items()
        ]
        self._client.log_batch(self.run_id, metrics=metrics)

    def close(self) -> None:
        if self._open:
            self._client.set_terminated(self.run_id, "FINISHED")
        self._open = False
