"""EarlyStoppingPlugin: watch the periodic evaluations of a validation stream."""

from __future__ import annotations

import math
from typing import Any, Literal

from torch import Tensor

from clhost import hookimpl, validate
from clhost.errors import ParameterError, UnknownNameError
from clhost.plugin import SupervisedPlugin


class EarlyStoppingPlugin(SupervisedPlugin):
    """Stop training an experience once ``metric_name`` on the ``val_stream_name`` stream
    has not improved by more than ``margin`` for ``patience`` epochs or iterations
    (``peval_mode``), then put back the weights of the best evaluation.

    The values are the evaluator's results of the periodic evaluation the strategy runs
    on the ``eval_streams`` given to ``train()`` (``eval_every > 0``). The plugin runs
    before the evaluator, so it notes that the validation stream was evaluated and reads
    the result at the next hook where the evaluator has finished and the model has not
    changed yet: the next epoch, iteration or evaluation, or the end of the experience.
    In ``"iteration"`` mode the stop takes effect after the iteration that follows the
    deciding evaluation (its update is undone when the best weights are restored).
    Nothing carries over between experiences: each starts with no best value (so its
    checkpoint state, under the key ``early-stopping``, is empty).
    """

    state_key = "early-stopping"
    distributed = "replicated"  # reads the evaluation, all-reduced over ranks

    def __init__(
        self,
        patience: int = 5,
        val_stream_name: str = "valid",
        *,
        metric_name: str = "accuracy",
        mode: Literal["max", "min"] = "max",
        peval_mode: Literal["epoch", "iteration"] = "epoch",
        margin: float = 0.0,
        restore_best_weights: bool = True,
    ):
        for name, value in (("val_stream_name", val_stream_name), ("metric_name", metric_name)):
            if not isinstance(value, str) or not value:
                raise ParameterError(f"{name} must be a non-empty string, got {value!r}")
        self.patience = validate.positive_int("patience", patience)
        self.val_stream_name, self.metric_name = val_stream_name, metric_name
        self.mode = validate.one_of("mode", mode, ("max", "min"))
        self.peval_mode = validate.one_of("peval_mode", peval_mode, ("epoch", "iteration"))
        self.margin = validate.number("margin", margin, low=0.0)
        self.restore_best_weights = validate.boolean("restore_best_weights", restore_best_weights)
        self.history: list[tuple[int, float]] = []
        self.best_value: float | None = None
        self.best_step = 0
        self.stopped_at: int | None = None
        self._best_state: dict[str, Tensor] | None = None
        self._training = False
        self._pending_step: int | None = None

    # -- when the strategy trains -------------------------------------------------------

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        self._check_strategy(strategy)
        self._training = True

    @hookimpl
    def clhost_before_training_exp(self) -> None:
        self.history, self.best_value, self.best_step, self.stopped_at = [], None, 0, None
        self._best_state, self._pending_step = None, None

    @hookimpl
    def clhost_before_training_epoch(self, strategy: Any) -> None:
        self._read_pending(strategy)

    @hookimpl
    def clhost_before_training_iteration(self, strategy: Any) -> None:
        if self._pending_step is not None:
            self._read_pending(strategy)

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        self._read_pending(strategy)
        if self.restore_best_weights and self._best_state is not None:
            strategy.model.load_state_dict(self._best_state)
        self._best_state = None

    @hookimpl
    def clhost_after_training(self) -> None:
        self._training, self._pending_step = False, None

    # -- when it evaluates ----------------------------------------------------------------

    @hookimpl
    def clhost_before_eval(self, strategy: Any) -> None:
        self._read_pending(strategy)  # the evaluator still holds the previous evaluation

    @hookimpl
    def clhost_after_eval(self, strategy: Any) -> None:
        experience = strategy.experience
        if self._training and experience is not None:
            if experience.origin_stream == self.val_stream_name:
                clock = strategy.clock
                epoch_mode = self.peval_mode == "epoch"
                self._pending_step = (
                    clock.train_exp_epochs if epoch_mode else clock.train_exp_iterations
                )

    # -- the decision ---------------------------------------------------------------------

    def _read_pending(self, strategy: Any) -> None:
        if self._pending_step is None:
            return
        step, self._pending_step = self._pending_step, None
        metrics = strategy.evaluator.last_eval_result().metrics
        if self.metric_name not in metrics:
            raise UnknownNameError("metric", self.metric_name, metrics)
        value = float(metrics[self.metric_name])
        self.history.append((step, value))
        if self._improves(value):
            self.best_value, self.best_step = value, step
            if self.restore_best_weights:
                state = strategy.model.state_dict()
                self._best_state = {name: t.detach().clone() for name, t in state.items()}
        elif step - self.best_step >= self.patience:
            if self.stopped_at is None:
                self.stopped_at = step
            strategy.stop_training()

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best_value is None:
            return True
        if self.mode == "max":
            return value > self.best_value + self.margin
        return value < self.best_value - self.margin

    def _check_strategy(self, strategy: Any) -> None:
        if getattr(strategy, "evaluator", None) is None:
            raise ParameterError(
                "EarlyStoppingPlugin reads the evaluator's results; the strategy has evaluator=None"
            )
        if getattr(strategy, "eval_every", -1) <= 0:
            raise ParameterError(
                "EarlyStoppingPlugin needs periodic evaluation: build the strategy with "
                "eval_every > 0 and pass the validation stream in train(eval_streams=...); "
                "from clhost run, hold one out with --validation FRACTION"
            )
        names = [stream[0].origin_stream for stream in strategy.eval_streams if len(stream)]
        if self.val_stream_name not in names:
            raise ParameterError(
                f"val_stream_name {self.val_stream_name!r} is not among the streams given "
                f"to train(eval_streams=...): {names or 'none'}"
            )
