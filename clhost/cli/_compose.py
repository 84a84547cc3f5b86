"""Build the objects of an experiment from ``RunOptions``: benchmark, model, optimizer,
criterion, buffer, selection strategy, plugins and strategy, in the order they need
each other. Imports torch, so only ``clhost run`` loads it.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from clhost import registry
from clhost._convert import bind, convert
from clhost._params import EMPTY, accepts, missing_required, parameters
from clhost.benchmarks.validation import VALID_STREAM, with_validation_stream
from clhost.cli._options import RunOptions, Spec
from clhost.errors import ClhostError, ParameterError, PluginCompositionError, UnknownNameError

# built-in model name -> class name in clhost.models (offered when the class exists)
MODELS = {
    "mlp": "SimpleMLP",
    "incremental-mlp": "IncrementalMLP",
    "multihead-mlp": "MultiHeadMLP",
    "slim-resnet18": "SlimResNet18",
}
OPTIMIZERS = {"sgd": 0.05, "adam": 0.001}  # name -> default learning rate
SGD_MOMENTUM = 0.9
NAIVE = "naive"

# strategy keywords that clhost run sets itself, and the option that sets each
STRATEGY_RESERVED = {
    "model": "--model",
    "slda_model": "--model",
    "optimizer": "--optimizer and --lr",
    "criterion": "--loss",
    "train_mb_size": "--batch-size",
    "train_epochs": "--epochs",
    "device": "--device",
    "plugins": "--plugin",
    "evaluator": "clhost run itself (its results come from the default evaluator)",
    "storage_policy": "--buffer",
    "buffer": "--buffer",
    "selection_strategy": "--selection",
}
# the keyword a component takes --buffer by: Avalanche's name
BUFFER_KEYWORD = "storage_policy"
# the keyword a strategy takes --model by: Avalanche's StreamingLDA names its (frozen)
# feature extractor slda_model
MODEL_KEYWORDS = ("model", "slda_model")
# a rehearsal component's memory size, and the size of the buffer it is given: with
# --buffer one is given and the other follows (see _size_once)
MEM_SIZE, MAX_SIZE = "mem_size", "max_size"
COMPONENT_RESERVED = {
    "model": "--model (the model trained is passed)",
    "storage_policy": "--buffer",
    "buffer": "--buffer",
    "selection_strategy": "--selection",
}


@dataclass
class Composition:
    """The built experiment, and how each part was chosen (for ``--explain``)."""

    benchmark: Any
    strategy: Any
    described: list[tuple[str, str]] = field(default_factory=list)
    eval_streams: list[Any] = field(default_factory=list)


@dataclass
class _Taker:
    """A component that may take the buffer or selection strategy, and what it was given."""

    label: str
    component: Any
    params: dict[str, Any] = field(default_factory=dict)
    given: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device), so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_device() -> str:
    """CUDA when available (this rank's GPU under torchrun with NCCL), else the CPU."""
    from clhost.distributed import local_device

    return str(local_device())


def build(options: RunOptions) -> Composition:
    """Build every component of ``options``; user mistakes raise ``ClhostError``."""
    seed_everything(options.seed)
    device = options.device or default_device()
    _check_device(device)
    benchmark, benchmark_label = _build_benchmark(options.benchmark)
    if options.validation is not None:
        benchmark = with_validation_stream(benchmark, options.validation, seed=options.seed)
    strategy_class, strategy_label = _strategy_class(options.strategy.name)
    model, model_label = _build_model(options.model, benchmark, strategy_class)
    takers = [
        _Taker(f"strategy {options.strategy.name!r}", strategy_class, options.strategy.params)
    ]
    takers += [
        _Taker(f"plugin {s.name!r}", _load("plugin", s.name), s.params) for s in options.plugins
    ]
    memory_labels = _share_memory(options, takers, model)
    plugins = [
        _instantiate("plugin", spec, model, component=taker.component, extra=taker.given)
        for spec, taker in zip(options.plugins, takers[1:], strict=True)
    ]
    criterion, criterion_label = _build_criterion(options.loss, model)
    optimizer, optimizer_label = _build_optimizer(options, model, strategy_class)

    what = f"strategy {options.strategy.name!r}"
    kwargs = bind(strategy_class, options.strategy.params, what=what, reserved=STRATEGY_RESERVED)
    kwargs.update(takers[0].given)
    kwargs.update(strategy_inputs(strategy_class, model, optimizer))
    kwargs.update(
        train_mb_size=options.batch_size,
        train_epochs=options.epochs,
        device=device,
        plugins=plugins,
    )
    if criterion is not None:
        kwargs["criterion"] = criterion
    if options.validation is not None:
        kwargs.setdefault("eval_every", 1)  # early stopping reads these evaluations
    strategy = _construct(what, strategy_class, kwargs)

    settings = ", ".join(f"{k}={v}" for k, v in options.strategy.params.items())
    described = [
        ("strategy", strategy_label + (f" with {settings}" if settings else "")),
        *(("plugin", f"{spec} ({_origin('plugin', spec.name)})") for spec in options.plugins),
        *memory_labels,
        ("benchmark", benchmark_label),
        ("model", model_label),
        ("criterion", criterion_label),
        ("optimizer", optimizer_label),
        ("training", f"{options.epochs} epoch(s) per experience, batch size {options.batch_size}"),
        ("device", f"{device}, seed {options.seed}"),
    ]
    if options.validation is None:
        return Composition(benchmark, strategy, described)
    described.append(
        (
            "validation",
            f"{options.validation:g} of each train experience held out as stream "
            f"{VALID_STREAM!r}, evaluated every {kwargs['eval_every']} "
            f"{getattr(strategy, 'peval_mode', 'epoch')}(s)",
        )
    )
    return Composition(benchmark, strategy, described, [benchmark.streams[VALID_STREAM]])


def strategy_inputs(strategy_class: Any, model: Any, optimizer: Any) -> dict[str, Any]:
    """The keywords giving ``strategy_class`` its model (``model``, or StreamingLDA's
    ``slda_model``) and, where it takes one, its optimizer."""
    keyword = next((k for k in MODEL_KEYWORDS if accepts(strategy_class, k)), "model")
    inputs = {keyword: model}
    if accepts(strategy_class, "optimizer"):
        inputs["optimizer"] = optimizer
    return inputs


def bare_strategy(strategy_class: Any) -> Any:
    """``strategy_class`` built with its defaults on a small model (its ``default_model``,
    else one linear layer), for ``clhost info`` to show its resolved hooks."""
    own = getattr(strategy_class, "default_model", None)
    model = own() if own is not None else torch.nn.Linear(1, 1)
    takes_optimizer = accepts(strategy_class, "optimizer")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1) if takes_optimizer else None
    return strategy_class(**strategy_inputs(strategy_class, model, optimizer))


def _share_memory(options: RunOptions, takers: list[_Taker], model: Any) -> list[tuple[str, str]]:
    """Build ``--selection`` and ``--buffer`` and give each to the first component taking it
    (strategy, then plugins in order); a selection strategy may also go to the buffer, as a
    parametric buffer ranks its samples with one."""
    spec = options.buffer
    if spec is None:
        return _give_selection(options, takers, model)
    buffer_taker = _Taker(f"buffer {spec.name!r}", _load("buffer", spec.name), spec.params)
    receiver = _first_taking(BUFFER_KEYWORD, "--buffer", spec, takers)
    size = _size_once(receiver, buffer_taker)
    described = _give_selection(options, [*takers, buffer_taker], model)
    receiver.given[BUFFER_KEYWORD] = _instantiate(
        "buffer", spec, model, component=buffer_taker.component, extra=buffer_taker.given
    )
    return [("buffer", f"{spec} -> {receiver.label}{size}"), *described]


def _size_once(receiver: _Taker, buffer: _Taker) -> str:
    """The memory size is given once: a buffer built without ``max_size`` holds the
    receiver's ``mem_size`` (given or default), and a receiver given no ``mem_size`` takes
    the buffer's ``max_size``. Both given: the receiver checks they agree. Returns how the
    size was chosen, for ``--explain``."""
    if not (accepts(receiver.component, MEM_SIZE) and accepts(buffer.component, MAX_SIZE)):
        return ""
    mem_size = _given(receiver, MEM_SIZE)
    max_size = _given(buffer, MAX_SIZE)
    if max_size is not EMPTY and mem_size is EMPTY:
        receiver.given[MEM_SIZE] = max_size
        return f", which takes {MEM_SIZE}={max_size!r} from it"
    if max_size is EMPTY:
        if mem_size is EMPTY:
            mem_size = parameters(receiver.component)[MEM_SIZE].default
        if mem_size is not EMPTY:
            buffer.given[MAX_SIZE] = mem_size
            return f", {MAX_SIZE}={mem_size!r} from its {MEM_SIZE}"
    return ""


def _given(taker: _Taker, name: str) -> Any:
    """The value the user gave ``taker`` for parameter ``name``, converted; else ``EMPTY``."""
    for key, value in taker.params.items():
        if key.strip().replace("-", "_") == name:
            return convert(value, parameters(taker.component)[name], what=taker.label)
    return EMPTY


def _give_selection(
    options: RunOptions, candidates: list[_Taker], model: Any
) -> list[tuple[str, str]]:
    spec = options.selection
    if spec is None:
        return []
    taker = _first_taking("selection_strategy", "--selection", spec, candidates)
    taker.given["selection_strategy"] = _instantiate("selection", spec, model)
    return [("selection", f"{spec} -> {taker.label}")]


def _load(kind: str, name: str) -> Any:
    return registry.load(kind, name)


def _origin(kind: str, name: str) -> str:
    entry = registry.get_entry(kind, name)
    return f"{entry.value} from {entry.distribution} {entry.version}"


def _strategy_class(name: str) -> tuple[Any, str]:
    """The registered strategy, or for ``naive`` without ``clhost-naive`` the plain
    ``SupervisedTemplate`` (naive finetuning is exactly that)."""
    try:
        entry = registry.get_entry("strategy", name)
    except UnknownNameError:
        if registry.normalize_name(name) != NAIVE:
            raise
        from clhost.templates import SupervisedTemplate

        return SupervisedTemplate, "naive (SupervisedTemplate, built in)"
    return entry.load(), f"{entry.name} ({entry.value} from {entry.distribution} {entry.version})"


def _build_benchmark(spec: Spec) -> tuple[Any, str]:
    factory = _load("benchmark", spec.name)
    benchmark = _instantiate("benchmark", spec, None, component=factory)
    tasks = getattr(benchmark, "n_tasks", 1)
    label = (
        f"{spec} ({_origin('benchmark', spec.name)}): {benchmark.n_experiences} experiences, "
        f"{benchmark.n_classes} classes, input {tuple(benchmark.input_shape)}, "
        + (f"{tasks} tasks" if tasks > 1 else "no task labels")
    )
    return benchmark, label


def available_models() -> dict[str, type]:
    """The built-in model names whose class this host has."""
    import clhost.models

    return {
        name: getattr(clhost.models, cls)
        for name, cls in MODELS.items()
        if hasattr(clhost.models, cls)
    }


def _build_model(spec: Spec | None, benchmark: Any, strategy_class: Any) -> tuple[Any, str]:
    """The chosen model, sized from the benchmark; by default the strategy's
    ``default_model`` class if it names one (PNN's columns), else an MLP, multi-head when
    the benchmark has several tasks. Besides the built-in names, those of the strategy's
    ``models`` mapping (name -> class or builder) are offered."""
    own = getattr(strategy_class, "default_model", None)
    if spec is None and own is not None:
        cls, name = own, f"{own.__name__} (the strategy's default)"
    else:
        if spec is None:
            spec = Spec("multihead-mlp" if getattr(benchmark, "n_tasks", 1) > 1 else "mlp")
        # a strategy may offer models of its own (the timm backbone of clhost-l2p: vit)
        models = {**available_models(), **getattr(strategy_class, "models", {})}
        name = registry.normalize_name(spec.name)
        if name not in models:
            raise UnknownNameError("model", spec.name, models)
        cls = models[name]
    spec = spec or Spec(cls.__name__)
    kwargs = bind(cls, spec.params, what=f"model {spec.name!r}")
    shape = tuple(benchmark.input_shape)
    size = math.prod(shape)
    derived = {"num_classes": benchmark.n_classes, "input_size": size, "in_features": size}
    if len(shape) == 3:
        derived["in_channels"] = shape[0]
    for key, value in derived.items():
        if accepts(cls, key) and key not in kwargs:
            kwargs[key] = value
    model = _construct(f"model {spec.name!r}", cls, kwargs)
    _check_input_fits(model, spec, benchmark)
    settings = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    count = sum(p.numel() for p in model.parameters())
    return model, f"{name}: {cls.__name__}({settings}), {count:,} parameters"


def _check_input_fits(model: Any, spec: Spec, benchmark: Any) -> None:
    """One forward pass on a training sample, so a model that cannot take the benchmark's
    inputs fails here with a clear message instead of in the middle of training."""
    from clhost.models import MultiTaskModule

    if isinstance(model, MultiTaskModule):
        return  # heads appear with the first experience
    sample = benchmark.train_stream[0].dataset[0][0]
    if not isinstance(sample, torch.Tensor):
        return  # inputs a transform turns into tensors later
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(sample.unsqueeze(0))
    except Exception as error:
        raise ParameterError(
            f"model {spec.name!r} cannot take the inputs of benchmark {benchmark.name!r} "
            f"(shape {tuple(benchmark.input_shape)}): {error}"
        ) from None
    finally:
        model.train(was_training)


def _build_criterion(spec: Spec | None, model: Any) -> tuple[Any, str]:
    if spec is None:
        return None, "cross-entropy (the template's default)"
    loss = _load("loss", spec.name)
    label = f"{spec} ({_origin('loss', spec.name)})"
    if isinstance(loss, type):
        return _instantiate("loss", spec, model, component=loss), label
    kwargs = bind(loss, spec.params, what=f"loss {spec.name!r}")
    return (functools.partial(loss, **kwargs) if kwargs else loss), label


def _build_optimizer(options: RunOptions, model: Any, strategy_class: Any) -> tuple[Any, str]:
    """The optimizer of ``--optimizer``/``--lr``; none for a strategy taking no optimizer
    (StreamingLDA learns without gradients)."""
    if not accepts(strategy_class, "optimizer"):
        return None, "none (the strategy takes none: it learns without gradients or makes its own)"
    name = options.optimizer.lower()
    if name not in OPTIMIZERS:
        raise UnknownNameError("optimizer", options.optimizer, OPTIMIZERS)
    lr = options.lr if options.lr is not None else OPTIMIZERS[name]
    if name == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=SGD_MOMENTUM)
        return optimizer, f"SGD(lr={lr}, momentum={SGD_MOMENTUM})"
    return torch.optim.Adam(model.parameters(), lr=lr), f"Adam(lr={lr})"


def _first_taking(keyword: str, option: str, spec: Spec, takers: list[_Taker]) -> _Taker:
    """The first of ``takers`` with a parameter named ``keyword``."""
    for taker in takers:
        if accepts(taker.component, keyword):
            return taker
    names = ", ".join(taker.label for taker in takers)
    raise PluginCompositionError(
        f"{option} {spec.name}: none of {names} takes a {keyword!r} parameter; use a strategy "
        "or --plugin that does (clhost info NAME lists parameters)"
    )


def _instantiate(
    kind: str,
    spec: Spec,
    model: Any,
    *,
    component: Any = None,
    extra: dict[str, Any] | None = None,
) -> Any:
    """Build a registered component from its parameters; the model trained is passed to a
    component that takes ``model`` (feature-based selection, for instance)."""
    component = component if component is not None else _load(kind, spec.name)
    what = f"{kind} {spec.name!r}"
    reserved = COMPONENT_RESERVED if kind != "benchmark" else None
    kwargs = bind(component, spec.params, what=what, reserved=reserved)
    kwargs.update(extra or {})
    if model is not None and accepts(component, "model"):
        kwargs["model"] = model
    return _construct(what, component, kwargs)


def _construct(what: str, component: Any, kwargs: dict[str, Any]) -> Any:
    """Call ``component(**kwargs)``; a missing parameter or a value the component rejects
    (``ValueError``/``TypeError`` naming it) is reported as the user's mistake."""
    missing = missing_required(component, kwargs, what=what)
    if missing is not None:
        raise missing
    try:
        return component(**kwargs)
    except PluginCompositionError as error:
        raise PluginCompositionError(f"{what}: {error}") from error
    except (ClhostError, ValueError, TypeError) as error:
        raise ParameterError(f"{what}: {error}") from error


def _check_device(device: str) -> None:
    try:
        torch.device(device)
    except RuntimeError as error:
        raise ParameterError(f"--device {device!r}: {error}") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(f"--device {device!r}: CUDA is not available on this machine")
