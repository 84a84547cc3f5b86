"""A testing kit for plugin authors: tiny streams and strategies that train in milliseconds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from clhost.data import Benchmark, Experience, Stream, TensorData


def gaussian_blobs(
    n_classes: int = 4,
    n_per_class: int = 50,
    n_features: int = 8,
    *,
    seed: int = 0,
    spread: float = 0.5,
) -> tuple[TensorData, TensorData]:
    """Well separated Gaussian classes: (train, test) with ``n_per_class`` samples each."""
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_classes, n_features, generator=generator) * 3

    def sample() -> TensorData:
        y = torch.arange(n_classes).repeat_interleave(n_per_class)
        x = centers[y] + spread * torch.randn(len(y), n_features, generator=generator)
        return TensorData(x, y)

    return sample(), sample()


def toy_benchmark(
    n_experiences: int = 2,
    classes_per_experience: int = 2,
    *,
    n_per_class: int = 50,
    n_features: int = 8,
    task_labels: bool = False,
    seed: int = 0,
) -> Benchmark:
    """A class-incremental (or, with ``task_labels``, task-incremental) blob benchmark."""
    n_classes = n_experiences * classes_per_experience
    train, test = gaussian_blobs(n_classes, n_per_class, n_features, seed=seed)
    groups = [
        list(range(i * classes_per_experience, (i + 1) * classes_per_experience))
        for i in range(n_experiences)
    ]
    return Benchmark(
        name="toy",
        train_stream=_stream("train", train, groups, task_labels),
        test_stream=_stream("test", test, groups, task_labels),
        n_classes=n_classes,
        input_shape=(n_features,),
    )


def _stream(name: str, data: TensorData, groups: Sequence[list[int]], task_labels: bool) -> Stream:
    experiences: list[Experience] = []
    seen: tuple[int, ...] = ()
    for index, classes in enumerate(groups):
        mask = torch.isin(data.y, torch.tensor(classes))
        task = index if task_labels else 0
        part = data.subset(mask.nonzero().squeeze(1))
        part = TensorData(part.x, part.y, task)
        previous, seen = seen, tuple(sorted({*seen, *classes}))
        experiences.append(Experience(part, index, name, tuple(classes), (task,), previous, seen))
    return Stream(name, experiences)


class HookRecorder:
    """A plugin recording the name of every hook fired, for tests of call order."""

    def __init__(self, hooks: Sequence[str]):
        from clhost._markers import hookimpl

        self.calls: list[str] = []
        for hook in hooks:

            def record(strategy: Any = None, _hook: str = hook) -> None:
                self.calls.append(_hook)

            setattr(self, hook, hookimpl(specname=hook)(record))


def average_accuracy(
    strategy_class: type | None = None,
    *,
    benchmark: Benchmark,
    model: Callable[[], torch.nn.Module],
    seed: int = 0,
    optimizer: str = "sgd",
    lr: float = 0.05,
    momentum: float = 0.9,
    **strategy_options: Any,
) -> float:
    """Seed, build a strategy on a fresh ``model()``, train on every experience in order,
    and return the accuracy over the whole test stream: the effect test of a method.

    ``strategy_class`` defaults to ``SupervisedTemplate`` (naive finetuning when no
    plugins are given); ``optimizer`` is ``"sgd"`` (with ``momentum``) or ``"adam"``.
    """
    from clhost.templates import SupervisedTemplate

    torch.manual_seed(seed)
    network = model()
    if optimizer == "sgd":
        optim: torch.optim.Optimizer = torch.optim.SGD(
            network.parameters(), lr=lr, momentum=momentum
        )
    elif optimizer == "adam":
        optim = torch.optim.Adam(network.parameters(), lr=lr)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    strategy = (strategy_class or SupervisedTemplate)(
        model=network, optimizer=optim, **strategy_options
    )
    for experience in benchmark.train_stream:
        strategy.train(experience)
    return strategy.eval(benchmark.test_stream).accuracy


class Killed(BaseException):
    """Raised by a run that ``kill_before`` stops; a ``BaseException``, like the end of a
    killed process, so no ``except Exception`` in the code under test catches it."""


def kill_before(strategy: Any, experience_index: int) -> None:
    """Make ``strategy.train`` raise ``Killed`` when it reaches train experience
    ``experience_index``: ``run_experiment`` then stops after the checkpoint of the
    experience before, as a killed process would, and a resumed run must end as one
    that was never stopped. A strategy that trains once on the whole stream dies in that
    call, before any checkpoint."""
    train = strategy.train

    def dying_train(experiences: Any, **kwargs: Any) -> Any:
        if (
            not isinstance(experiences, Experience)
            or experiences.current_experience >= experience_index
        ):
            raise Killed(f"killed before train experience {experience_index}")
        return train(experiences, **kwargs)

    strategy.train = dying_train
