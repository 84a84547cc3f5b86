"""A testing kit for plugin authors: tiny streams and strategies that train in milliseconds."""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from clhost._markers import hookimpl
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
        self.calls: list[str] = []
        for hook in hooks:

            def record(strategy: Any = None, _hook: str = hook) -> None:
                self.calls.append(_hook)

            setattr(self, hook, hookimpl(specname=hook)(record))


class MinibatchRecorder:
    """A plugin keeping detached copies of what each iteration saw, placed after the
    plugin under test: ``batches`` (the minibatch tensors before the forward pass),
    ``outputs`` (the model's outputs), ``losses`` (the loss before the backward pass)
    and ``eval_outputs`` (the outputs on evaluation minibatches)."""

    def __init__(self) -> None:
        self.batches: list[tuple[torch.Tensor, ...]] = []
        self.outputs: list[torch.Tensor] = []
        self.losses: list[torch.Tensor] = []
        self.eval_outputs: list[torch.Tensor] = []

    @hookimpl
    def clhost_before_training_iteration(self, strategy: Any) -> None:
        self.batches.append(tuple(part.clone() for part in strategy.mbatch))

    @hookimpl
    def clhost_after_forward(self, strategy: Any) -> None:
        self.outputs.append(strategy.mb_output.detach().clone())

    @hookimpl
    def clhost_before_backward(self, strategy: Any) -> None:
        self.losses.append(strategy.loss.detach().clone())

    @hookimpl
    def clhost_after_eval_forward(self, strategy: Any) -> None:
        self.eval_outputs.append(strategy.mb_output.detach().clone())


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
    strategy = seeded_strategy(
        strategy_class,
        model=model,
        seed=seed,
        optimizer=optimizer,
        lr=lr,
        momentum=momentum,
        **strategy_options,
    )
    for experience in benchmark.train_stream:
        strategy.train(experience)
    return strategy.eval(benchmark.test_stream).accuracy


def seeded_strategy(
    strategy_class: type | None = None,
    *,
    model: Callable[[], torch.nn.Module],
    seed: int = 0,
    optimizer: str = "sgd",
    lr: float = 0.05,
    momentum: float = 0.9,
    **strategy_options: Any,
) -> Any:
    """Seed, then build ``strategy_class`` (default ``SupervisedTemplate``) on a fresh
    ``model()`` with its optimizer: the strategy ``average_accuracy`` trains, for tests
    that train and inspect it themselves. Other options go to the strategy."""
    from clhost.templates import SupervisedTemplate

    torch.manual_seed(seed)
    network = model()
    return (strategy_class or SupervisedTemplate)(
        model=network, optimizer=_optimizer(network, optimizer, lr, momentum), **strategy_options
    )


def strategy_for(
    model: torch.nn.Module,
    plugins: Sequence[Any] = (),
    *,
    optimizer: str = "adam",
    lr: float = 0.01,
    momentum: float = 0.0,
    train_mb_size: int = 16,
    train_epochs: int = 1,
    **template_options: Any,
) -> Any:
    """A ``SupervisedTemplate`` on ``model`` with ``plugins`` and no evaluator (tests
    read what they need themselves); ``optimizer`` is ``"adam"`` or ``"sgd"`` (with
    ``momentum``). Other options (``device``, ``criterion``, ...) go to the template."""
    from clhost.templates import SupervisedTemplate

    template_options.setdefault("evaluator", None)
    return SupervisedTemplate(
        model=model,
        optimizer=_optimizer(model, optimizer, lr, momentum),
        train_mb_size=train_mb_size,
        train_epochs=train_epochs,
        plugins=list(plugins),
        **template_options,
    )


def online_strategy_for(
    model: torch.nn.Module,
    plugins: Sequence[Any] = (),
    *,
    optimizer: str = "sgd",
    lr: float = 0.1,
    momentum: float = 0.0,
    train_mb_size: int = 10,
    **template_options: Any,
) -> Any:
    """``strategy_for``'s online twin: an ``OnlineSupervisedTemplate`` on ``model`` with
    ``plugins``, no evaluator unless given, and an SGD optimizer (``"adam"`` on request).
    Other options (``train_passes``, ``criterion``, ``device``, ...) go to the template."""
    from clhost.templates import OnlineSupervisedTemplate

    template_options.setdefault("evaluator", None)
    return OnlineSupervisedTemplate(
        model=model,
        optimizer=_optimizer(model, optimizer, lr, momentum),
        train_mb_size=train_mb_size,
        plugins=list(plugins),
        **template_options,
    )


def online_stream(
    n_experiences: int = 2, *, experience_size: int = 10, seed: int = 0, **benchmark_options: Any
) -> Stream:
    """The train stream of ``toy_benchmark(n_experiences, **benchmark_options)`` cut into
    shuffled mini-experiences of ``experience_size`` samples: what an online method sees."""
    from clhost.benchmarks import split_online

    stream = toy_benchmark(n_experiences, **benchmark_options).train_stream
    return split_online(stream, experience_size, shuffle=True, seed=seed)


def online_accuracy(
    plugins: Sequence[Any] = (),
    *,
    model: Callable[[], torch.nn.Module] | None = None,
    lr: float = 0.1,
    seed: int = 0,
    **template_options: Any,
) -> float:
    """The effect test of an online method: seed, build ``model()`` (default a
    ``SimpleMLP(10, 64, (100,))``), train an ``online_strategy_for`` it with ``plugins``
    (SGD at ``lr``, minibatches of 10) once over class-incremental Split Digits cut into
    shuffled mini-experiences of 10 samples, and return the accuracy over the whole test
    stream (finetuning ends below 0.25 there)."""
    from clhost.benchmarks import split_digits, split_online
    from clhost.models import SimpleMLP

    benchmark = split_digits()
    stream = split_online(benchmark.train_stream, 10, shuffle=True, seed=0)
    torch.manual_seed(seed)
    network = model() if model is not None else SimpleMLP(10, 64, (100,))
    template_options.setdefault("evaluator", "default")
    strategy = online_strategy_for(network, plugins, lr=lr, **template_options)
    strategy.train(stream)
    return float(strategy.eval(benchmark.test_stream).accuracy)


def assert_builds_its_plugin_first(
    strategy_class: type, plugin_class: type, *, entry_point: str | None = None, **parameters: Any
) -> Any:
    """Check what a strategy declared from a plugin must do: built on a small MLP with
    the method's ``parameters`` and one more plugin, it holds a ``plugin_class`` first
    in line, whose attributes of those names have those values, and the other plugin
    after it; given ``entry_point``, both classes are registered under that name.
    Returns the strategy (untrained), for the method's own effect checks."""
    from importlib.metadata import entry_points

    from clhost.models import SimpleMLP

    if entry_point is not None:
        for group, registered in (("strategies", strategy_class), ("plugins", plugin_class)):
            loaded = entry_points(group=f"clhost.{group}")[entry_point].load()
            assert loaded is registered, (group, entry_point, loaded)
    model, extra = SimpleMLP(4, 8, (16,)), HookRecorder(())
    strategy = strategy_class(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        plugins=[extra],
        **parameters,
    )
    plugin = strategy.plugins[0]
    assert isinstance(plugin, plugin_class) and strategy.plugins[1] is extra, strategy.plugins
    for name, value in parameters.items():
        assert getattr(plugin, name) == value, (name, getattr(plugin, name), value)
    return strategy


def _optimizer(model: torch.nn.Module, name: str, lr: float, momentum: float) -> Any:
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


class LossTermProbe:
    """A plugin recording, at every iteration, the loss term named ``term``: its value
    (0.0 when no plugin added it) with the train experience counter in ``values`` and,
    given ``parameter_name``, its gradient for that parameter in ``gradients`` (``None``
    where the term does not reach it; nothing while there is no term)."""

    def __init__(self, term: str, parameter_name: str | None = None):
        self.term = term
        self.parameter_name = parameter_name
        self.values: list[tuple[int, float]] = []
        self.gradients: list[torch.Tensor | None] = []

    @hookimpl
    def clhost_before_backward(self, strategy: Any) -> None:
        value = strategy.loss_terms.get(self.term)
        counter = strategy.clock.train_exp_counter
        self.values.append((counter, 0.0 if value is None else value.item()))
        if self.parameter_name is not None and value is not None:
            param = dict(strategy.model.named_parameters())[self.parameter_name]
            (grad,) = torch.autograd.grad(value, param, retain_graph=True, allow_unused=True)
            self.gradients.append(grad)


def assert_penalty_contract(
    make_plugin: Callable[[], Any], term: str, **strategy_options: Any
) -> Any:
    """Check what every method pulling parameters towards stored ones must do, with the
    loss term ``term`` of a fresh ``make_plugin()`` each time:

    - nothing to pull during the first experience nor at the first step of the second
      (it starts where the anchors are), a finite positive term after;
    - classifier units an ``IncrementalMLP`` grew get no gradient from it (old ones do);
    - a ``MultiHeadMLP``'s new head is never reached while the term stays positive;
    - with CUDA available, everything the plugin keeps lives on the model's device.

    ``strategy_options`` go to ``strategy_for``. Returns the plugin trained with the new
    head, for the method's own checks of what it stored."""
    from clhost.models import IncrementalMLP, MultiHeadMLP, SimpleMLP

    stream = toy_benchmark(n_experiences=2, classes_per_experience=2).train_stream
    torch.manual_seed(0)
    probe = LossTermProbe(term)
    strategy_for(SimpleMLP(4, 8, (16,)), [make_plugin(), probe], **strategy_options).train(stream)
    first = [value for exp, value in probe.values if exp == 0]
    second = [value for exp, value in probe.values if exp == 1]
    assert first and all(value == 0.0 for value in first)
    assert second[0] == 0.0 and all(0.0 < value < float("inf") for value in second[1:])

    torch.manual_seed(0)
    probe = LossTermProbe(term, "classifier.classifier.weight")
    model = IncrementalMLP(8, (16,), initial_out_features=2)
    strategy_for(model, [make_plugin(), probe], **strategy_options).train(stream)
    assert model.classifier.out_features == 4
    later = probe.gradients[1:]  # after the first step of experience 1 the term pulls
    assert later and all(grad is not None and grad[2:].abs().sum() == 0 for grad in later)
    assert all(grad is not None and grad[:2].abs().sum() > 0 for grad in later)

    tasks = toy_benchmark(n_experiences=2, classes_per_experience=2, task_labels=True)
    trained = []
    for device in ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",):
        torch.manual_seed(0)
        plugin, probe = make_plugin(), LossTermProbe(term, "classifier.heads.1.weight")
        strategy = strategy_for(
            MultiHeadMLP(8, (16,)), [plugin, probe], device=device, **strategy_options
        )
        strategy.train(tasks.train_stream)
        assert probe.gradients and all(grad is None for grad in probe.gradients)
        assert probe.values[-1][1] > 0  # the shared body and the old head are still held
        _assert_on_device(plugin.state_dict(), device)
        trained.append(plugin)
    return trained[0]


def _assert_on_device(state: Any, device: str) -> None:
    if isinstance(state, torch.Tensor):
        assert state.device.type == device, (state.device, device)
    elif isinstance(state, dict):
        for value in state.values():
            _assert_on_device(value, device)
    elif isinstance(state, list | tuple):
        for value in state:
            _assert_on_device(value, device)


FORGETTING_SCENARIOS = ("task-incremental-split-digits", "permuted-digits")
"""Two settings in which finetuning forgets and a method's effect shows within seconds."""


def assert_forgets_less(
    strategy_class: type, scenario: str, *, margin: float = 0.05, **method_options: Any
) -> tuple[float, float]:
    """The effect test of a method: in one of ``FORGETTING_SCENARIOS``, trained with Adam
    (``average_accuracy``), ``strategy_class`` with ``method_options`` must end more than
    ``margin`` above finetuning. Returns (finetuning's, the method's) accuracy."""
    naive = _scenario_accuracy(None, scenario)
    method = _scenario_accuracy(strategy_class, scenario, **method_options)
    assert method > naive + margin, (scenario, naive, method)
    return naive, method


def _scenario_accuracy(strategy_class: type | None, scenario: str, **method_options: Any) -> float:
    from clhost.benchmarks import permuted_digits, split_digits
    from clhost.models import MultiHeadMLP, SimpleMLP

    if scenario == "task-incremental-split-digits":
        return average_accuracy(
            strategy_class,
            benchmark=split_digits(task_labels=True),
            model=lambda: MultiHeadMLP(64, (16,)),
            optimizer="adam",
            lr=0.03,
            train_epochs=10,
            train_mb_size=32,
            **method_options,
        )
    if scenario == "permuted-digits":
        return average_accuracy(
            strategy_class,
            benchmark=permuted_digits(),
            model=lambda: SimpleMLP(10, 64, (512,)),
            optimizer="adam",
            lr=0.002,
            train_epochs=2,
            train_mb_size=64,
            **method_options,
        )
    raise ValueError(f"scenario must be one of {FORGETTING_SCENARIOS}, got {scenario!r}")


def run_readme_examples(readme: str | Path) -> None:
    """Run the ```` ```python ```` blocks of ``readme`` in order, in one namespace: the
    test that keeps a distribution's README examples true. A README without one fails."""
    path = Path(readme)
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)
    assert blocks, f"{path} has no python example"
    exec(compile("\n".join(blocks), str(path), "exec"), {"__name__": "readme"})


def assert_refuses(
    component: Callable[..., Any], *cases: dict[str, Any] | tuple[dict[str, Any], str]
) -> None:
    """The bad-parameter table of a method's tests: ``component(**keywords)`` must raise
    one ``ParameterError`` for every case, naming the case's first keyword, or, for a
    ``(keywords, pattern)`` pair, matching ``pattern`` (``re.search``)."""
    from clhost.errors import ParameterError

    for case in cases:
        keywords, pattern = case if isinstance(case, tuple) else (case, next(iter(case)))
        try:
            component(**keywords)
        except ParameterError as error:
            assert re.search(pattern, str(error)), (keywords, pattern, str(error))
        else:
            raise AssertionError(f"{keywords} was accepted")


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
    states (the default evaluator's included; only wall-clock timings, keys ending in
    ``seconds``, are not compared). Returns the resumed strategy, for further checks."""
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


def assert_plugin_resumes(
    make_plugin: Callable[[], Any],
    *,
    model: Callable[[], torch.nn.Module] | None = None,
    task_labels: bool = False,
    **strategy_options: Any,
) -> Any:
    """``assert_resumes`` for one plugin: ``model()`` (default a small MLP) trained with
    ``make_plugin()`` on a three-experience toy stream (task-incremental with
    ``task_labels``), checkpointed after two; then the resumed plugin's state must come
    back whole through ``state_round_trip`` into another ``make_plugin()``, which is
    returned for the plugin's own checks of what its state holds (``strategy_options``
    go to ``strategy_for``)."""
    from clhost.models import SimpleMLP

    stream = toy_benchmark(3, 2, task_labels=task_labels).train_stream
    network = model or (lambda: SimpleMLP(6, 8, (16,)))
    resumed = assert_resumes(
        lambda: strategy_for(network(), [make_plugin()], **strategy_options), stream, split=2
    )
    plugin = resumed.plugins[0]
    restored = state_round_trip(plugin, make_plugin())
    _assert_same_state(plugin.state_dict(), restored.state_dict(), "round-tripped state")
    return restored


def _assert_same_state(expected: Any, actual: Any, where: str) -> None:
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and torch.equal(expected, actual), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and expected.keys() == actual.keys(), where
        for key in expected:
            if isinstance(key, str) and key.endswith("seconds"):
                continue  # wall-clock timings (the evaluator's) differ between any two runs
            _assert_same_state(expected[key], actual[key], f"{where}[{key!r}]")
    elif isinstance(expected, list | tuple):
        assert type(expected) is type(actual) and len(expected) == len(actual), where
        for index, (a, b) in enumerate(zip(expected, actual, strict=True)):
            _assert_same_state(a, b, f"{where}[{index}]")
    else:
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"


Series = dict[str, list[tuple[int, float]]]


def assert_logger_keeps_a_killed_run(
    make_logger: Callable[[], Any],
    read: Callable[[], Series],
    *,
    epochs: int = 2,
    settle: float = 0.0,
) -> None:
    """The contract test of a logger distribution: a small run logging to
    ``make_logger()`` (give it ``every="iteration"`` to check every granularity) runs in
    a forked process that SIGKILLs itself when its second experience starts, so neither
    ``close()`` nor any exit handler runs; ``read()``, in this process, must then find,
    read back from what the logger wrote, every scalar the evaluator emitted until the
    kill (``nan`` included), as ``{MetricEvent.scalars() name: [(iteration, value), ...]}``
    in the order emitted. ``make_logger`` and ``read`` must agree through the file
    system (an object built in the killed process is lost with it). ``settle`` seconds
    are allowed for a logger whose library writes from another process (W&B's service):
    ``read()`` is retried until it matches or they are spent."""
    import time

    expected = _events_until_killed(make_logger, epochs)
    assert expected, "the run emitted no event"
    deadline = time.monotonic() + settle
    while True:
        try:
            _assert_same_series(expected, read())
            return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.2)


def _events_until_killed(make_logger: Callable[[], Any], epochs: int) -> Series:
    """Every scalar that a run logging to ``make_logger()`` emitted before it was
    SIGKILLed at its second experience, sent here as it was emitted."""
    import multiprocessing
    import os
    import signal
    import traceback
    import warnings

    from clhost.evaluation import EvaluationPlugin, Logger, MetricEvent
    from clhost.experiment import run_experiment
    from clhost.models import SimpleMLP

    receiving, sending = multiprocessing.Pipe(duplex=False)

    class Recorder(Logger):
        def __init__(self, every: Any) -> None:
            self.every = every

        def log(self, event: MetricEvent) -> None:
            sending.send(("event", event))  # reaches the pipe before the next event

    def run() -> None:
        # A forked child must not enter the parent's OpenMP thread pool, whose threads it
        # lacks (a matrix product then waits forever): one thread, as DataLoader workers do.
        torch.set_num_threads(1)
        try:
            logger = make_logger()
            strategy = seeded_strategy(
                model=lambda: SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,)),
                train_mb_size=20,
                train_epochs=epochs,
                evaluator=EvaluationPlugin(),
            )
            train = strategy.train

            def dying_train(experiences: Any, **kwargs: Any) -> Any:
                if isinstance(experiences, Experience) and experiences.current_experience:
                    os.kill(os.getpid(), signal.SIGKILL)
                return train(experiences, **kwargs)

            strategy.train = dying_train
            benchmark = toy_benchmark(n_per_class=20)
            run_experiment(strategy, benchmark, loggers=[Recorder(logger.every), logger])
        except BaseException:
            sending.send(("error", traceback.format_exc()))
            os._exit(1)
        os._exit(0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads: ours exits
        process = multiprocessing.get_context("fork").Process(target=run)
        process.start()
    sending.close()
    expected: Series = {}
    while True:
        try:
            kind, item = receiving.recv()
        except EOFError:
            break
        if kind == "error":
            raise AssertionError(f"the run failed before it was killed:\n{item}")
        for name, value in item.scalars().items():
            expected.setdefault(name, []).append((item.iteration, value))
    process.join()
    assert process.exitcode == -signal.SIGKILL, f"the run was not killed: {process.exitcode}"
    return expected


def _assert_same_series(expected: Series, found: Series) -> None:
    import math

    assert sorted(found) == sorted(expected), sorted(set(found) ^ set(expected))
    for name, points in expected.items():
        steps = [step for step, _ in found[name]]
        assert steps == [step for step, _ in points], (name, steps)
        for (_, want), (_, got) in zip(points, found[name], strict=True):
            assert math.isnan(got) if math.isnan(want) else math.isclose(got, want, rel_tol=1e-6)


def on_ranks(
    target: Callable[..., Any],
    *args: Any,
    tmp_path: Path,
    world: int = 2,
    timeout: float = 30.0,
    in_step: bool = True,
    **kwargs: Any,
) -> list:
    """``target(*args, **kwargs)`` on ``world`` gloo processes (CPU), as ``torchrun``
    would run it, and what each returned, in rank order: how a plugin is tested under
    distributed training. Each process joins a process group through a file store in
    ``tmp_path`` and leaves it by ``clhost.distributed.leave``; ``in_step=False`` for a
    test whose ranks fall out of step on purpose (a rank that stops calling collectives).
    ``target`` must live in an importable module: spawned processes import it by name."""
    import torch.multiprocessing as mp

    call = (target, args, kwargs)
    options = (world, str(tmp_path / "store"), str(tmp_path), timeout, in_step, call)
    mp.spawn(_rank_process, args=options, nprocs=world)
    return [torch.load(tmp_path / f"rank{rank}.pt", weights_only=False) for rank in range(world)]


def _rank_process(
    rank: int, world: int, store: str, out: str, timeout: float, in_step: bool, call: tuple
) -> None:
    import os
    from datetime import timedelta

    import torch.distributed as dist

    from clhost import distributed

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{store}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=timeout),
    )
    finished = False
    try:
        target, args, kwargs = call
        result = target(*args, **kwargs)
        finished = True
    finally:
        distributed.leave(finished=finished and in_step)
    torch.save(result, Path(out) / f"rank{rank}.pt")
