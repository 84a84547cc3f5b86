"""``avalanche.logging``: loggers receiving Avalanche's metric values.

``TextLogger`` prints each phase and the values emitted in it, ``InteractiveLogger``
does the same on standard output with a progress bar over training minibatches (when
tqdm is installed), ``CSVLogger`` writes ``training_results.csv`` and
``eval_results.csv`` under ``log_folder``. ``TensorboardLogger`` and ``WandBLogger``
forward the values to clhost's logger plugins (the ``clhost.loggers`` entry-point
group); without them they fail with one line.
"""

from __future__ import annotations

import csv
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TextIO

import torch

from clhost.evaluation import MetricEvent
from clhost_avalanche._exports import not_supported
from clhost_avalanche.core import SupervisedPlugin
from clhost_avalanche.evaluation.base import MetricValue, is_eval


class BaseLogger(SupervisedPlugin):
    """Receives every emitted value (``log_single_metric``) and every callback with the
    values emitted during it (``after_training_epoch(strategy, metric_values)``)."""

    def log_single_metric(self, name: str, value: Any, x_plot: int) -> None:
        """Handle one value; does nothing here."""

    def log_metrics(self, metric_values: list[MetricValue]) -> None:
        for metric_value in metric_values:
            self.log_single_metric(metric_value.name, metric_value.value, metric_value.x_plot)


class TextLogger(BaseLogger):
    """Prints phases and values to ``file`` as Avalanche's ``TextLogger`` does."""

    def __init__(self, file: TextIO = sys.stdout):
        super().__init__()
        self.file = file
        self.metric_vals: dict[str, tuple[str, int, Any]] = {}

    def log_single_metric(self, name: str, value: Any, x_plot: int) -> None:
        self.metric_vals[name] = (name, x_plot, value)

    def _print(self, text: str) -> None:
        print(text, file=self.file, flush=True)

    def print_current_metrics(self) -> None:
        for name, _, value in sorted(self.metric_vals.values(), key=lambda item: item[0]):
            if isinstance(value, torch.Tensor):
                self._print(f"\t{name} = \n{value}")
            elif isinstance(value, float):
                self._print(f"\t{name} = {value:.4f}")
            else:
                self._print(f"\t{name} = {value}")

    def _experience_line(self, strategy: Any, verb: str) -> str:
        experience = strategy.experience
        tasks = experience.task_labels
        task = f" (Task {tasks[0]})" if len(tasks) == 1 else ""
        return (
            f"-- {verb} experience {experience.current_experience}{task} from "
            f"{experience.origin_stream} stream --"
        )

    def before_training(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        self._print("-- >> Start of training phase << --")

    def before_training_exp(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        self._print(self._experience_line(strategy, "Starting training on"))

    def after_training_epoch(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        self._print(f"Epoch {strategy.clock.train_exp_epochs} ended.")
        self.print_current_metrics()
        self.metric_vals = {}

    def after_training(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        self._print("-- >> End of training phase << --")

    def before_eval(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        self._print("-- >> Start of eval phase << --")

    def before_eval_exp(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        self._print(self._experience_line(strategy, "Starting eval on"))

    def after_eval_exp(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        experience = strategy.experience
        self._print(
            f"> Eval on experience {experience.current_experience} from "
            f"{experience.origin_stream} stream ended."
        )
        self.print_current_metrics()
        self.metric_vals = {}

    def after_eval(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        self._print("-- >> End of eval phase << --")
        self.print_current_metrics()
        self.metric_vals = {}


class InteractiveLogger(TextLogger):
    """``TextLogger`` on standard output, with a progress bar over each training epoch."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self._bar: Any = None

    def before_training_epoch(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        try:
            from tqdm import tqdm  # type: ignore[import-untyped]
        except ImportError:
            return
        self._bar = tqdm(total=_length(strategy.dataloader), file=sys.stdout, leave=False)

    def after_training_iteration(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        if self._bar is not None:
            self._bar.update()

    def after_training_epoch(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        super().after_training_epoch(strategy, metric_values)


class CSVLogger(BaseLogger):
    """Writes per-epoch training results and per-experience evaluation results as CSV,
    with Avalanche's columns (``training_results.csv``, ``eval_results.csv``)."""

    TRAIN_COLUMNS = (
        "training_exp",
        "epoch",
        "training_accuracy",
        "val_accuracy",
        "training_loss",
        "val_loss",
    )
    EVAL_COLUMNS = ("eval_exp", "training_exp", "eval_accuracy", "eval_loss", "forgetting")

    def __init__(self, log_folder: str | None = None):
        super().__init__()
        self.log_folder = (
            log_folder if log_folder is not None else os.path.join(os.getcwd(), "csvlogs")
        )
        os.makedirs(self.log_folder, exist_ok=True)
        self._training_exp = 0
        self._values: dict[str, Any] = {}
        for filename, columns in (
            ("training_results.csv", self.TRAIN_COLUMNS),
            ("eval_results.csv", self.EVAL_COLUMNS),
        ):
            with open(os.path.join(self.log_folder, filename), "w", newline="") as handle:
                csv.writer(handle).writerow(columns)

    def log_single_metric(self, name: str, value: Any, x_plot: int) -> None:
        self._values[name.split("/")[0]] = value

    def _append(self, filename: str, row: tuple[Any, ...]) -> None:
        with open(os.path.join(self.log_folder, filename), "a", newline="") as handle:
            csv.writer(handle).writerow(row)

    def before_training_exp(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        self._training_exp = strategy.experience.current_experience

    def after_training_epoch(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        get = self._values.get
        self._append(
            "training_results.csv",
            (
                self._training_exp,
                strategy.clock.train_exp_epochs,
                _number(get("Top1_Acc_Epoch")),
                0,
                _number(get("Loss_Epoch")),
                0,
            ),
        )

    def after_eval_exp(self, strategy: Any, metric_values: Any = None, **kw: Any) -> None:
        if not is_eval(strategy):
            return
        get = self._values.get
        self._append(
            "eval_results.csv",
            (
                strategy.experience.current_experience,
                self._training_exp,
                _number(get("Top1_Acc_Exp")),
                _number(get("Loss_Exp")),
                _number(get("ExperienceForgetting")),
            ),
        )
        self._values = {}


def _number(value: Any) -> str:
    return f"{float(value):.4f}" if value is not None else "0"


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


class PluginLogger(BaseLogger):
    """Forwards each scalar metric value to a clhost logger plugin under its Avalanche
    name, with the training iteration as its step (what Avalanche's logger writes);
    tensor values (a confusion matrix) are not forwarded."""

    entry_point = ""

    def __init__(self, **options: Any):
        super().__init__()
        found = [ep for ep in entry_points(group="clhost.loggers") if ep.name == self.entry_point]
        if not found:
            raise not_supported(
                type(self).__name__,
                f"install clhost's '{self.entry_point}' logger plugin "
                f"(clhost-logger-{self.entry_point}, group clhost.loggers)",
            )
        self.logger = found[0].load()(**options)

    def log_single_metric(self, name: str, value: Any, x_plot: int) -> None:
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            return
        phase, _, rest = name.partition("/")
        self.logger.log(MetricEvent(phase=phase, metrics={rest: float(value)}, iteration=x_plot))

    def close(self) -> None:
        self.logger.close()


class TensorboardLogger(PluginLogger):
    """Avalanche's ``TensorboardLogger``: clhost's ``tensorboard`` logger plugin."""

    entry_point = "tensorboard"

    def __init__(self, tb_log_dir: str | Path = "./tb_data", filename_suffix: str = ""):
        super().__init__(tb_log_dir=Path(tb_log_dir), filename_suffix=filename_suffix)


class WandBLogger(PluginLogger):
    """Avalanche's ``WandBLogger``: clhost's ``wandb`` logger plugin (project, run name and
    folder; artifacts, TensorBoard sync and run configs are not mirrored)."""

    entry_point = "wandb"

    def __init__(
        self,
        project_name: str = "Avalanche",
        run_name: str = "Test",
        log_artifacts: bool = False,
        path: str = "Checkpoints",
        uri: str | None = None,
        sync_tfboard: bool = False,
        save_code: bool = True,
        config: object = None,
        dir: str | None = None,
        params: object = None,
    ):
        extras = {
            "log_artifacts": log_artifacts,
            "uri": uri,
            "sync_tfboard": sync_tfboard,
            "config": config,
            "params": params,
        }
        given = [name for name, value in extras.items() if value]
        if given:
            raise not_supported(
                f"WandBLogger({', '.join(given)}=...)",
                "clhost's wandb logger plugin logs metrics only; log the rest with wandb itself",
            )
        super().__init__(project_name=project_name, run_name=run_name, dir=Path(dir or "."))


__all__ = [
    "BaseLogger",
    "CSVLogger",
    "InteractiveLogger",
    "TensorboardLogger",
    "TextLogger",
    "WandBLogger",
]
