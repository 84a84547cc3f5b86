"""A testing kit for plugin authors: tiny streams and strategies that train in milliseconds."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
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


def state_round_trip(component: Any, fresh: Any) -> Any:
    """Load ``component``'s state into ``fresh`` through the bytes a checkpoint holds
    (``torch.save``, then ``torch.load(weights_only=True)``), and return ``fresh``:
    what a state cannot carry, or carries only as an unsafe object, fails here."""
    buffer = io.BytesIO()
    torch.save(component.state_dict(), buffer)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    return fresh


def assert_resumes(
    build: Callable[[], Any], experiences: Sequence[Experience], *, split: int = 1, seed: int = 0
) -> Any:
    """Check the checkpoint contract of a strategy: trained on ``experiences`` without a
    break, and again checkpointed after ``split`` of them and resumed in a strategy freshly
    made by ``build()``, both must end with identical model, optimizer and component
    states. Returns the resumed strategy, for further checks."""
    from clhost.checkpoint import load_checkpoint, save_checkpoint

    experiences = list(experiences)
    if not 0 < split < len(experiences):
        raise ValueError(f"split must leave experiences on both sides, got {split}")
    torch.manual_seed(seed)
    whole = build()
    for experience in experiences:
        whole.train(experience)
    torch.manual_seed(seed)
    first = build()
    for experience in experiences[:split]:
        first.train(experience)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "checkpoint.pt"
        save_checkpoint(first, path, split)
        torch.manual_seed(seed + 1)  # the checkpoint's generators must take over
        resumed = build()
        load_checkpoint(resumed, path, experiences=experiences)
    for experience in experiences[split:]:
        resumed.train(experience)
    _assert_same_state(whole.state_dict(), resumed.state_dict(), "state")
    return resumed


def _assert_same_state(expected: Any, actual: Any, where: str) -> None:
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and torch.equal(expected, actual), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and expected.keys() == actual.keys(), where
        for key in expected:
            _assert_same_state(expected[key], actual[key], f"{where}[{key!r}]")
    elif isinstance(expected, list | tuple):
        assert type(expected) is type(actual) and len(expected) == len(actual), where
        for index, (a, b) in enumerate(zip(expected, actual, strict=True)):
            _assert_same_state(a, b, f"{where}[{index}]")
    else:
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"
