"""``clhost run --logger``: the loggers a run's metric events go to, chosen by name.

Each is built from its ``key=value`` parameters like any component. Two things follow
from the run itself: with ``--output DIR`` a relative file parameter (one annotated
``Path``, given or by default) lands under ``DIR``, next to the results, and a resumed
run passes a logger the ``resume_keywords`` it declares (``mode="a"`` for a file logger),
so its file goes on instead of starting again.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clhost import registry
from clhost._convert import bind
from clhost._params import EMPTY, parameters
from clhost.cli._options import Spec
from clhost.evaluation.loggers import Logger


@dataclass
class Planned:
    """A logger as it will be built: its spec, where it comes from and its keywords."""

    spec: Spec
    origin: str
    factory: Any
    kwargs: dict[str, Any]

    @property
    def what(self) -> str:
        return f"logger {self.spec.name!r}"


def plan_loggers(specs: list[Spec], *, output: Path | None, resume: bool) -> list[Planned]:
    """Check every ``--logger`` (name, parameter names and types) before anything runs."""
    planned = []
    for spec in specs:
        entry = registry.get_entry("logger", spec.name)
        factory = entry.load()
        kwargs = bind(factory, spec.params, what=f"logger {spec.name!r}")
        known = parameters(factory)
        if resume:
            for name, value in getattr(factory, "resume_keywords", {}).items():
                kwargs.setdefault(name, value)
        if output is not None:
            for name, param in known.items():
                value = kwargs.get(name, param.default)
                if _is_path(param.annotation) and _relative(value):
                    kwargs[name] = output / value
        origin = f"{entry.value} from {entry.distribution} {entry.version}"
        planned.append(Planned(spec, origin, factory, kwargs))
    return planned


def build_loggers(planned: list[Planned]) -> list[Logger]:
    """The loggers, built in order; if one fails, those already built are closed."""
    from clhost.cli._compose import _construct

    built: list[Logger] = []
    try:
        for each in planned:
            built.append(_construct(each.what, each.factory, each.kwargs))
    except BaseException:
        for logger in built:
            logger.close()
        raise
    return built


def _is_path(annotation: Any) -> bool:
    """``Path``, or a union holding it (``Path | None``, ``str | Path``)."""
    return annotation is Path or Path in typing.get_args(annotation)


def _relative(value: Any) -> bool:
    return value is not EMPTY and isinstance(value, (str, Path)) and not Path(value).is_absolute()
