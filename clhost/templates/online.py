"""OnlineSupervisedTemplate: a single pass over a stream of small experiences.

Online continual learning sees each sample once, in minibatches that arrive one at a
time. The template trains on a stream of mini-experiences (e.g. from
``clhost.benchmarks.split_online``), each cut into minibatches of ``train_mb_size``
samples (usually exactly one) in stream order, with ``train_passes`` consecutive updates
on every minibatch. Per mini-experience it only slices tensors: no DataLoader is built,
the model is adapted only when a class or task label it was not adapted to arrives, and
the optimizer is refreshed only when that adaptation replaced or added parameters.

Hooks, for one ``train(mini_experiences)`` call:

- ``before_training``/``after_training``: once, around everything.
- ``before_training_exp``/``after_training_exp``: with ``boundaries_known=True``, around
  every mini-experience, as in Avalanche's online streams with access to task
  boundaries (a plugin finds the boundaries of the original experiences through
  ``strategy.experience.is_first_subexp``/``is_last_subexp``/``origin_experience``).
  With ``boundaries_known=False`` the stream given to ``train()`` is one experience:
  ``before_training_exp`` fires once, after the first mini-experience is prepared, and
  ``after_training_exp`` once, after the last one is trained (``strategy.experience`` is
  then the last mini-experience). Pass the whole stream to a single ``train()`` call for a
  boundary-free run; methods for that setting work per minibatch or per mini-experience.
- ``before/after_train_dataset_adaptation`` and ``before/after_training_epoch``: once
  per mini-experience in both settings; an "epoch" is the mini-experience's pass.
- Iteration hooks: ``train_passes`` times per minibatch; ``strategy.train_pass`` is the
  index of the current update on it (0 on its first sight: the moment to store it).

Numeric blow-ups stop training as in ``BaseSGDTemplate``, except that the weights are
checked once per ``train()`` call, after its last mini-experience (a check per
mini-experience would cost a fifth of the training time; every loss is still checked).

``stop_training()`` ends the current experience as the hooks see it: the current
mini-experience when boundaries are known, the rest of the stream otherwise.
``eval_every`` counts over the whole stream: every ``n`` mini-experiences
(``peval_mode="epoch"``) or iterations; ``0`` evaluates after every ``after_training_exp``.

Under DDP each rank trains on its part of every minibatch (a one-sample minibatch on
every rank), through ``DistributedDataParallel`` rebuilt when the model grows; rank 0's
replicated states and random generators are broadcast when an original experience ends
and after the last mini-experience of a ``train()`` call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import default_collate

from clhost import distributed
from clhost.data import Experience, TensorData
from clhost.errors import ParameterError
from clhost.templates.base import DEFAULT, TrainResult
from clhost.templates.sgd import _wrap_for_ranks
from clhost.templates.supervised import SupervisedTemplate
from clhost.validate import positive_int

Minibatch = Sequence[Any]


class OnlineSupervisedTemplate(SupervisedTemplate):
    """Online (single-pass) supervised training over a stream of mini-experiences.

    ``boundaries_known`` says whether plugins are told where experiences end (see the
    module docstring for the exact hook semantics); ``train_passes`` is the number of
    consecutive updates made on each incoming minibatch.
    """

    distributed = distributed.REPLICATED  # see the module docstring

    def __init__(
        self,
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        criterion: Callable[..., Tensor] | None = None,
        train_mb_size: int = 10,
        train_passes: int = 1,
        boundaries_known: bool = True,
        eval_mb_size: int | None = None,
        device: str | torch.device | None = None,
        plugins: Sequence[object] = (),
        evaluator: Any = DEFAULT,
        eval_every: int = -1,
        peval_mode: Literal["epoch", "iteration"] = "epoch",
        num_workers: int = 0,
    ):
        positive_int("train_passes", train_passes)
        if not isinstance(boundaries_known, bool):
            raise ParameterError(f"boundaries_known must be a bool, got {boundaries_known!r}")
        self.train_passes = train_passes
        self.boundaries_known = boundaries_known
        self.train_pass = 0
        self._adapted_to: set[tuple[int | None, int | None]] | None = None
        self._stream_index, self._stream_length = 0, 0
        super().__init__(
            model=model,
            optimizer=optimizer,
            criterion=criterion,
            train_mb_size=train_mb_size,
            train_epochs=1,
            eval_mb_size=eval_mb_size,
            device=device,
            plugins=plugins,
            evaluator=evaluator,
            eval_every=eval_every,
            peval_mode=peval_mode,
            num_workers=num_workers,
        )

    def train(
        self,
        experiences: Experience | Iterable[Experience],
        eval_streams: Sequence[Any] | None = None,
    ) -> TrainResult:
        """One pass over the mini-experiences, in order (see the module docstring)."""
        experiences = [experiences] if isinstance(experiences, Experience) else list(experiences)
        self._stream_index, self._stream_length = 0, len(experiences)
        return super().train(experiences, eval_streams)

    def train_experience(self, experience: Experience) -> None:
        first = self._stream_index == 0
        last = self._stream_index == self._stream_length - 1
        self._stream_index += 1
        opens = self.boundaries_known or first
        closes = self.boundaries_known or last
        if opens:
            self._stop_requested = False
        if not self._stop_requested:
            self._prepare(experience)
            if opens:
                self._fire(self.hooks.before_training_exp)
        if not self._stop_requested:
            self._fire(self.hooks.before_training_epoch)
            self.training_epoch()
            self._fire(self.hooks.after_training_epoch)
            self.clock.tick_epoch()
            self._periodic_eval("epoch", self.clock.train_epochs)
        if closes:
            if last:  # every loss before was checked; the last step's weights are not yet
                self._finite_guard.check_weights(self)
            self._fire(self.hooks.after_training_exp)
            if last or experience.is_last_subexp:
                distributed.synchronise(self._state_order())
            if self.eval_every == 0:
                self._eval_streams()

    def _prepare(self, experience: Experience) -> None:
        self._fire(self.hooks.before_train_dataset_adaptation)
        self.adapted_dataset = self.train_dataset_adaptation(experience)
        self._fire(self.hooks.after_train_dataset_adaptation)
        self.dataloader = self.make_train_dataloader()
        self._adapt_if_new(experience)

    def make_train_dataloader(self) -> Any:
        """A plugin's dataloader (``clhost_train_dataloader``, built per mini-experience),
        else the mini-experience's minibatches as slices, in stream order."""
        for build in self.hooks.train_dataloader:
            loader = build(self)
            if loader is not None:
                return loader
        batches = minibatches(self.adapted_dataset, self.train_mb_size)
        return batches if distributed.world_size() == 1 else tuple(map(_rank_part, batches))

    def _adapt_if_new(self, experience: Experience) -> None:
        """Adapt the model only for classes or task labels it has not been adapted to, and
        refresh the optimizer only if the adaptation changed the parameters."""
        needed: set[tuple[int | None, int | None]] = {(t, None) for t in experience.task_labels}
        needed.update(
            (task, label)
            for task in experience.task_labels
            for label in experience.classes_in_this_experience
        )
        needed.update((None, label) for label in experience.classes_seen_so_far)
        if self._adapted_to is not None and needed <= self._adapted_to:
            return
        self.model_adaptation(experience)
        self._adapted_to = needed | (self._adapted_to or set())
        before = self._params_before_adaptation
        after = dict(self.model.named_parameters())
        if after.keys() != before.keys() or any(after[n] is not p for n, p in before.items()):
            self.make_optimizer()
        self._ddp = _wrap_for_ranks(self.model, self.device)

    def training_epoch(self) -> None:
        minibatches = self.dataloader
        self.dataloader = self._passes(minibatches)
        try:
            super().training_epoch()
        finally:
            self.dataloader, self.train_pass = minibatches, 0

    def _passes(self, minibatches: Iterable[Minibatch]) -> Iterator[Minibatch]:
        for batch in minibatches:
            for train_pass in range(self.train_passes):
                self.train_pass = train_pass
                yield batch

    def _periodic_eval(self, unit: str, count: int) -> None:
        """Count mini-experiences or iterations over the stream, not per experience."""
        total = self.clock.train_epochs if unit == "epoch" else self.clock.train_iterations
        super()._periodic_eval(unit, total)


def _rank_part(batch: Minibatch) -> Minibatch:
    """This rank's part of a global minibatch (``distributed.rank_part``)."""
    index = distributed.rank_part(torch.arange(len(batch[0])))
    return tuple(item[index] if isinstance(item, Tensor) else item for item in batch)


def minibatches(dataset: Any, batch_size: int) -> tuple[Minibatch, ...]:
    """``dataset``'s samples in order, in minibatches of ``batch_size``.

    A ``TensorData`` no larger than one minibatch is returned as its own tensors, larger
    ones as slices (views); other datasets are collated by hand, without a DataLoader.
    """
    n = len(dataset)
    if isinstance(dataset, TensorData):
        tensors = dataset.tensors
        if n <= batch_size:
            return (tensors,)
        return tuple(
            tuple(tensor[start : start + batch_size] for tensor in tensors)
            for start in range(0, n, batch_size)
        )
    return tuple(
        tuple(default_collate([dataset[i] for i in range(start, min(start + batch_size, n))]))
        for start in range(0, n, batch_size)
    )
