"""What ``clhost run`` composes, from defaults, a saved run, a TOML file and the command line.

Each layer overrides the one before: defaults < the options saved in ``--output`` (when
resuming) < ``--config`` < command-line options. Components are ``Spec``s: a registered
name and its ``key=value`` parameters, still unparsed (the component's annotations decide
their types when it is built).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from clhost._parsing import parse_spec
from clhost.errors import ParameterError, UnknownNameError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SAVED_OPTIONS = "options.json"
DEFAULT_EPOCHS = 4
DEFAULT_BATCH_SIZE = 32


@dataclass
class Spec:
    """A component chosen by name, with its parameters as given (text or TOML values)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}:" + ",".join(f"{k}={_text(v)}" for k, v in self.params.items())


@dataclass
class RunOptions:
    """Everything that defines an experiment; ``None`` means "choose for me"."""

    strategy: Spec = field(default_factory=lambda: Spec("naive"))
    plugins: list[Spec] = field(default_factory=list)
    buffer: Spec | None = None
    selection: Spec | None = None
    loss: Spec | None = None
    benchmark: Spec = field(default_factory=lambda: Spec("split-digits"))
    model: Spec | None = None
    optimizer: str = "sgd"
    lr: float | None = None
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = 0
    device: str | None = None
    output: str | None = None
    validation: float | None = None
    loggers: list[Spec] = field(default_factory=list)

    def to_json(self) -> str:
        """The options in the schema of a ``--config`` file (specs as text), as JSON."""
        document: dict[str, Any] = {"strategy": self.strategy.name, "params": self.strategy.params}
        for option in fields(self):
            value = getattr(self, option.name)
            if option.name in _SPEC_LISTS:
                document[option.name] = [str(spec) for spec in value]
            elif option.name != "strategy" and value is not None:
                document[option.name] = str(value) if isinstance(value, Spec) else value
        return json.dumps(document, indent=2) + "\n"


# option -> how a TOML or saved value is read: a spec, a list of specs, or a scalar type
_SPECS = ("buffer", "selection", "loss", "benchmark", "model")
_SCALARS: dict[str, tuple[type, ...]] = {
    "optimizer": (str,),
    "lr": (float, int),
    "epochs": (int,),
    "batch_size": (int,),
    "seed": (int,),
    "device": (str,),
    "output": (str,),
    "validation": (float, int),
}
_SPEC_LISTS = ("plugins", "loggers")
CONFIG_KEYS = ("strategy", "params", *_SPEC_LISTS, *_SPECS, *_SCALARS)


def read_config(path: Path) -> dict[str, Any]:
    """Read a ``--config`` file into option values (keys as in ``CONFIG_KEYS``)."""
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise ParameterError(f"config {path}: cannot read it: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ParameterError(f"config {path}: invalid TOML: {error}") from None
    return options_from_mapping(document, source=f"config {path}")


def read_saved(directory: Path) -> dict[str, Any]:
    """The options a run in ``directory`` was started with (empty if none were saved)."""
    path = directory / SAVED_OPTIONS
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ParameterError(f"saved options {path}: cannot read them: {error}") from None
    return options_from_mapping(saved, source=f"saved options {path}")


def options_from_mapping(document: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """Check and convert a TOML/JSON mapping: specs become ``Spec``, scalars are typed."""
    if not isinstance(document, Mapping):
        raise ParameterError(f"{source}: expected a table of options, got {document!r:.60}")
    values: dict[str, Any] = {}
    for raw_key, value in document.items():
        key = raw_key.replace("-", "_")
        if key not in CONFIG_KEYS:
            raise UnknownNameError(f"key in {source}:", raw_key, CONFIG_KEYS)
        where = f"{source}: {raw_key}"
        if key == "strategy":
            values[key] = _typed(value, (str,), where)
        elif key == "params":
            values[key] = dict(_typed(value, (dict,), where))
        elif key in _SPEC_LISTS:
            values[key] = [_spec(item, where) for item in _typed(value, (list,), where)]
        elif key in _SPECS:
            values[key] = _spec(value, where)
        else:
            values[key] = _typed(value, _SCALARS[key], where)
    return values


def _spec(value: Any, where: str) -> Spec:
    """``"name:k=v,..."`` or a table ``{name = "...", k = v}``."""
    if isinstance(value, str):
        return Spec(*parse_spec(value, what=where))
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return Spec(value["name"], {key: item for key, item in value.items() if key != "name"})
    raise ParameterError(
        f'{where}: expected "name:key=value,..." or a table with a name, got {value!r}'
    )


def _typed(value: Any, types: tuple[type, ...], where: str) -> Any:
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        expected = " or ".join(t.__name__ for t in types)
        raise ParameterError(f"{where}: expected {expected}, got {value!r}")
    return value


def merge(layers: list[dict[str, Any]]) -> RunOptions:
    """Apply option layers in order over the defaults; strategy ``params`` merge per key."""
    options = RunOptions()
    params: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key == "params":
                params.update(value)
            elif key == "strategy":
                options.strategy = Spec(value)
            else:
                setattr(options, key, value)
    options.strategy.params = params
    _check_positive(options)
    return options


def _check_positive(options: RunOptions) -> None:
    for name in ("epochs", "batch_size"):
        if getattr(options, name) < 1:
            raise ParameterError(f"{name} must be at least 1, got {getattr(options, name)}")
    if options.lr is not None and not 0 < options.lr < math.inf:
        raise ParameterError(f"lr must be a positive number, got {options.lr}")
    if not -(2**63) <= options.seed < 2**64:  # what torch.manual_seed takes
        raise ParameterError(f"seed must be between -2**63 and 2**64 - 1, got {options.seed}")
    if options.validation is not None and not 0 < options.validation < 1:
        raise ParameterError(f"validation must be between 0 and 1, got {options.validation}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(_text(item) for item in value)
    return str(value)
