"""The Avalanche face of a clhost strategy: its defaults, plugins, evaluator and results.

``avalanche_strategy(NativeClass)`` is the native clhost class with ``AvalancheStrategy``
in front: Avalanche's defaults (``train_mb_size=1``, its default evaluator), plugins
written against ``avalanche.core`` bridged to clhost hooks, ``train(experience,
eval_streams=..., num_workers=...)`` and ``eval()`` returning Avalanche's metric
dictionary, and the attribute names Avalanche plugins read (``is_eval``, ...).
Everything else (the loop, the method, the model) is the native strategy's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, ClassVar

from clhost.data import Experience
from clhost_avalanche._bridge import Bridge, bridge, fired_callbacks, is_clhost_plugin
from clhost_avalanche._exports import not_supported
from clhost_avalanche.evaluation.plugin import CALLBACKS_USED, EvaluationPlugin, default_evaluator
from clhost_avalanche.training._clock import AvalancheCounters

AVALANCHE_DEFAULTS: Mapping[str, Any] = {"train_mb_size": 1, "train_epochs": 1}
"""Avalanche's strategy defaults where clhost's differ (clhost's train_mb_size is 32)."""

LOADER_OPTIONS_WITHOUT_EFFECT = ("pin_memory", "persistent_workers", "prefetch_factor")
"""``train()``/``eval()`` keywords that change speed, not results: accepted and unused."""


class EvaluatorHooks(Bridge):
    """The bridge of the evaluator, answering what clhost's templates ask of theirs."""

    def train_metrics(self) -> dict[str, Any]:
        return self.plugin.get_last_metrics()  # type: ignore[attr-defined]

    def last_eval_result(self) -> SimpleNamespace:
        """What clhost's plugins read of the last evaluation (``EarlyStoppingPlugin``):
        ``metrics``, every value under its Avalanche key and the last evaluated stream's
        under their metric name."""
        evaluator: Any = self.plugin
        return SimpleNamespace(
            metrics={**evaluator.get_last_metrics(), **evaluator.stream_metrics()}
        )


class AvalancheStrategy:
    """Put in front of a clhost template: Avalanche's constructor and results."""

    avalanche_defaults: ClassVar[Mapping[str, Any]] = AVALANCHE_DEFAULTS
    avalanche_unsupported: ClassVar[Mapping[str, tuple[Any, str]]] = {}
    avalanche_translation: ClassVar[Callable[[dict[str, Any]], dict[str, Any]] | None] = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """Refuse an Avalanche keyword the native strategy lacks, unless it has Avalanche's
        default value, before clhost's keyword check would call it unknown."""
        for name, (default, alternative) in cls.avalanche_unsupported.items():
            if name in kwargs and kwargs.pop(name) != default:
                raise not_supported(f"{cls.__name__}({name}=...)", alternative)
        return super().__new__(cls, *args, **kwargs)

    def __init__(
        self,
        *,
        plugins: Iterable[Any] | None = None,
        evaluator: Any = default_evaluator,
        **kwargs: Any,
    ):
        kwargs = {**self.avalanche_defaults, **kwargs}
        for name in self.avalanche_unsupported:  # at their default (``__new__`` checked)
            kwargs.pop(name, None)
        translate = type(self).avalanche_translation
        if translate is not None:
            kwargs = translate(kwargs)
        fired = fired_callbacks(type(self))
        self.avalanche_plugins = list(plugins or ())
        self.avalanche_evaluator = _evaluation_plugin(evaluator)
        hooks = bridge(
            self.avalanche_evaluator,
            fired,
            [name for name in CALLBACKS_USED if name in fired],
            EvaluatorHooks,
        )
        native = [p if is_clhost_plugin(p) else bridge(p, fired) for p in self.avalanche_plugins]
        native.append(AvalancheCounters())
        super().__init__(plugins=native, evaluator=hooks, **kwargs)  # type: ignore[call-arg]

    @property
    def is_eval(self) -> bool:
        """Avalanche's name for "evaluating"."""
        return not self.is_training  # type: ignore[attr-defined]

    @property
    def mb_it(self) -> int:
        """Avalanche's index of the minibatch in the running training epoch."""
        return getattr(self.clock, "train_epoch_iterations", 0)  # type: ignore[attr-defined]

    def train(
        self,
        experiences: Experience | Iterable[Experience],
        eval_streams: Iterable[Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Train as the native strategy; ``eval_streams`` defaults to the trained
        experiences, as in Avalanche. Returns every metric's last value."""
        experiences = [experiences] if isinstance(experiences, Experience) else list(experiences)
        streams = _by_stream(list(eval_streams) if eval_streams is not None else experiences)
        with self._loader_options(kwargs):
            super().train(experiences, eval_streams=streams)  # type: ignore[misc]
        return self.avalanche_evaluator.get_last_metrics()

    def eval(self, exp_list: Experience | Iterable[Experience], **kwargs: Any) -> dict[str, Any]:
        """Evaluate as the native strategy; returns every metric's last value."""
        with self._loader_options(kwargs):
            super().eval(exp_list)  # type: ignore[misc]
        return self.avalanche_evaluator.get_last_metrics()

    @contextmanager
    def _loader_options(self, options: dict[str, Any]) -> Any:
        unknown = sorted(set(options) - {"num_workers", *LOADER_OPTIONS_WITHOUT_EFFECT})
        if unknown:
            raise not_supported(
                f"{', '.join(unknown)} in train()/eval()",
                "clhost's loaders shuffle training data and keep every minibatch; pass only "
                "num_workers",
            )
        saved = self.num_workers  # type: ignore[has-type]
        self.num_workers = options.get("num_workers", saved)
        try:
            yield
        finally:
            self.num_workers = saved


def avalanche_strategy(
    native: type,
    name: str | None = None,
    defaults: Mapping[str, Any] = {},
    unsupported: Mapping[str, tuple[Any, str]] = {},
    translation: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> type:
    """``native`` with Avalanche's constructor defaults and results in front."""
    name = name or native.__name__
    return type(
        name,
        (AvalancheStrategy, native),
        {
            "__module__": "clhost_avalanche.training",
            "__qualname__": name,
            "__doc__": f"Avalanche's {name}: the native {native.__module__}.{native.__name__}.",
            "avalanche_defaults": {**AVALANCHE_DEFAULTS, **defaults},
            "avalanche_unsupported": dict(unsupported),
            "avalanche_translation": staticmethod(translation) if translation else None,
        },
    )


def _evaluation_plugin(evaluator: Any) -> EvaluationPlugin:
    if callable(evaluator) and not isinstance(evaluator, EvaluationPlugin):
        evaluator = evaluator()
    if not isinstance(evaluator, EvaluationPlugin):
        raise TypeError(
            "evaluator must be avalanche.training.plugins.EvaluationPlugin (or a function "
            f"returning one), got {type(evaluator).__name__}"
        )
    return evaluator


def _by_stream(items: list[Any]) -> list[list[Experience]]:
    """Evaluation streams as Avalanche groups them: experiences of one stream together."""
    groups: dict[str, list[Experience]] = {}
    for item in items:
        for experience in [item] if isinstance(item, Experience) else list(item):
            groups.setdefault(experience.origin_stream, []).append(experience)
    return list(groups.values())
