"""LRSchedulerPlugin: step a learning-rate scheduler inside the loop, reset it per experience."""

from __future__ import annotations

import copy
from typing import Any, Literal

from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from clhost import distributed, hookimpl, validate
from clhost.errors import ParameterError
from clhost.importance import require_keys
from clhost.plugin import SupervisedPlugin
from clhost_lr_scheduler.schedulers import SchedulerName, build_scheduler, scheduler_options


class LRSchedulerPlugin(SupervisedPlugin):
    """Step ``scheduler`` after every epoch or iteration (``step_granularity``) and, at the
    end of each experience, put back the learning rates (``reset_lr``) and the scheduler's
    state (``reset_scheduler``) they had when training started, so every experience
    follows the same schedule.

    ``scheduler`` is a torch scheduler already bound to the strategy's optimizer, or the
    name of one to build on it when training starts, with its options: ``"step"``
    (``step_size``, ``gamma``), ``"multistep"`` (``milestones``, ``gamma``),
    ``"exponential"`` (``gamma``), ``"cosine"`` (``t_max``, ``eta_min``; without ``t_max``
    one cosine half-period spans each experience) and ``"plateau"`` (``gamma`` is the
    factor, ``patience``). Metric-driven schedulers (``ReduceLROnPlateau``) step with
    ``metric``: the mean training loss of the epoch (or the iteration's loss), or the
    loss on the ``val_stream_name`` stream after each periodic evaluation. Checkpoints
    keep the schedule under the key ``lr-scheduler``.
    """

    state_key = "lr-scheduler"
    distributed = "replicated"  # steps alike: a plateau's loss is summed over ranks

    def __init__(
        self,
        scheduler: LRScheduler | SchedulerName = "cosine",
        *,
        reset_scheduler: bool = True,
        reset_lr: bool = True,
        metric: Literal["train_loss", "val_loss"] | None = None,
        step_granularity: Literal["epoch", "iteration"] = "epoch",
        val_stream_name: str | None = None,
        step_size: int | None = None,
        milestones: tuple[int, ...] | None = None,
        gamma: float | None = None,
        t_max: int | None = None,
        eta_min: float | None = None,
        patience: int | None = None,
    ):
        given = {
            "step_size": step_size,
            "milestones": milestones,
            "gamma": gamma,
            "t_max": t_max,
            "eta_min": eta_min,
            "patience": patience,
        }
        if isinstance(scheduler, LRScheduler):
            for option, value in given.items():
                if value is not None:
                    raise ParameterError(
                        f"{option} applies to schedulers built by name, not to the "
                        f"{type(scheduler).__name__} given"
                    )
            self.options: dict[str, Any] = {}
            metric_driven = isinstance(scheduler, ReduceLROnPlateau)
        elif isinstance(scheduler, str):
            self.options = scheduler_options(scheduler, given)
            metric_driven = scheduler == "plateau"
        else:
            raise ParameterError(
                f"scheduler must be a torch LR scheduler or a name, got {scheduler!r}"
            )
        validate.boolean("reset_scheduler", reset_scheduler)
        validate.boolean("reset_lr", reset_lr)
        validate.one_of("step_granularity", step_granularity, ("epoch", "iteration"))
        validate.one_of("metric", metric, (None, "train_loss", "val_loss"))
        if metric_driven != (metric is not None):
            raise ParameterError(
                "metric must be given for ReduceLROnPlateau ('plateau') and only for it"
            )
        if (metric == "val_loss") != (val_stream_name is not None):
            raise ParameterError(
                "val_stream_name must be given with metric='val_loss', and only then"
            )
        if isinstance(scheduler, str) and scheduler == "cosine" and t_max is None:
            if not reset_scheduler:
                raise ParameterError(
                    "scheduler='cosine' without reset_scheduler needs t_max: the period "
                    "cannot follow each experience if the schedule carries on"
                )
        self.scheduler: LRScheduler | None = None if isinstance(scheduler, str) else scheduler
        self.scheduler_name = scheduler if isinstance(scheduler, str) else None
        self.reset_scheduler, self.reset_lr = reset_scheduler, reset_lr
        self.metric, self.step_granularity = metric, step_granularity
        self.val_stream_name = val_stream_name
        self._initial_lrs: list[float] = []
        self._initial_state: dict[str, Any] = {}
        self._loaded: dict[str, Any] | None = None
        self._train_loss = _Mean()
        self._val_loss = _Mean()
        self._training = False

    # -- training ----------------------------------------------------------------------

    @hookimpl
    def clhost_before_training(self, strategy: Any) -> None:
        if self.scheduler is not None and self.scheduler.optimizer is not strategy.optimizer:
            raise ParameterError(
                "the scheduler given to LRSchedulerPlugin is bound to another optimizer than "
                "the strategy's; build it on strategy.optimizer"
            )
        if self.metric == "val_loss":
            _check_periodic_evaluation(strategy, self.step_granularity, self.val_stream_name)
        self._training = True

    @hookimpl
    def clhost_before_training_exp(self, strategy: Any) -> None:
        if not self._initial_state:
            self._bind(strategy)
        if self.scheduler_name == "cosine" and self.options["t_max"] is None:
            self.scheduler.T_max = self._steps_per_experience(strategy)

    @hookimpl
    def clhost_after_training_iteration(self, strategy: Any) -> None:
        if self.metric == "train_loss":
            self._train_loss.add(strategy.loss.detach(), 1)
        if self.step_granularity == "iteration" and self.metric != "val_loss":
            self._step(self._train_loss)

    @hookimpl
    def clhost_after_training_epoch(self) -> None:
        if self.step_granularity == "epoch" and self.metric != "val_loss":
            self._step(self._train_loss)

    @hookimpl
    def clhost_after_training_exp(self, strategy: Any) -> None:
        if self.reset_lr:
            for group, lr in zip(strategy.optimizer.param_groups, self._initial_lrs, strict=False):
                group["lr"] = lr
        if self.reset_scheduler:
            self.scheduler.load_state_dict(copy.deepcopy(self._initial_state))

    @hookimpl
    def clhost_after_training(self) -> None:
        self._training = False

    # -- validation loss ---------------------------------------------------------------

    @hookimpl
    def clhost_after_eval_iteration(self, strategy: Any) -> None:
        if self._watches(strategy):
            n = len(strategy.mb_y)
            self._val_loss.add(strategy.loss.detach() * n, n)

    @hookimpl
    def clhost_after_eval(self, strategy: Any) -> None:
        if self._watches(strategy) and self._val_loss.count:
            self._step(self._val_loss)

    # -- internals ---------------------------------------------------------------------

    def _watches(self, strategy: Any) -> bool:
        experience = strategy.experience
        return (
            self.metric == "val_loss"
            and self._training
            and experience is not None
            and experience.origin_stream == self.val_stream_name
        )

    def _bind(self, strategy: Any) -> None:
        """Build a named scheduler, and remember where the schedule starts (or restore
        the state loaded before the scheduler existed)."""
        if self.scheduler is None:
            steps = self._steps_per_experience(strategy)
            self.scheduler = build_scheduler(
                self.scheduler_name, strategy.optimizer, self.options, steps
            )
        self._initial_lrs = [group["lr"] for group in strategy.optimizer.param_groups]
        self._initial_state = copy.deepcopy(self.scheduler.state_dict())
        if self._loaded is not None:
            self._apply_loaded()

    def _steps_per_experience(self, strategy: Any) -> int:
        if self.step_granularity == "epoch":
            return strategy.train_epochs
        return strategy.train_epochs * len(strategy.dataloader)

    def _step(self, loss: _Mean) -> None:
        if self.metric is None:
            self.scheduler.step()
        else:
            self.scheduler.step(loss.pop())

    # -- state -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        if self._loaded is not None:  # loaded, not yet applied: saved again as it came
            return dict(self._loaded)
        if self.scheduler is None or not self._initial_state:
            return {"scheduler": None}
        return {
            "scheduler": self.scheduler.state_dict(),
            "initial_state": copy.deepcopy(self._initial_state),
            "initial_lrs": list(self._initial_lrs),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the schedule; a named scheduler is rebuilt when training starts."""
        require_keys(state, ("scheduler",), "LRSchedulerPlugin")
        self._loaded = None if state["scheduler"] is None else dict(state)
        if self._loaded is not None and self._initial_state:
            self._apply_loaded()

    def _apply_loaded(self) -> None:
        assert self._loaded is not None and self.scheduler is not None
        self._initial_lrs = list(self._loaded["initial_lrs"])
        self._initial_state = self._loaded["initial_state"]
        self.scheduler.load_state_dict(self._loaded["scheduler"])
        self._loaded = None


class _Mean:
    """A running sum kept on the device; read (one sync) when the scheduler steps."""

    def __init__(self) -> None:
        self.total: Any = 0.0
        self.count = 0

    def add(self, value: Any, count: int) -> None:
        self.total, self.count = self.total + value, self.count + count

    def pop(self) -> float:
        """The mean over every rank's values (each rank's own minibatches or evaluation
        share), so every rank's scheduler steps alike."""
        total, count = distributed.sum_over_ranks([float(self.total), self.count])
        mean = total / max(count, 1)
        self.total, self.count = 0.0, 0
        return mean


def _check_periodic_evaluation(strategy: Any, granularity: str, stream: str | None) -> None:
    if getattr(strategy, "eval_every", -1) <= 0 or strategy.peval_mode != granularity:
        raise ParameterError(
            "metric='val_loss' steps after each periodic evaluation: build the strategy with "
            f"eval_every > 0 and peval_mode={granularity!r} (the step_granularity)"
        )
    names = [s[0].origin_stream for s in strategy.eval_streams if len(s)]
    if stream not in names:
        raise ParameterError(
            f"val_stream_name {stream!r} is not among the streams given to "
            f"train(eval_streams=...): {names or 'none'}"
        )
