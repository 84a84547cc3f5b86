"""Avalanche-style script: the public names of the modules the layer mirrors.

Prints ``NAMES <json>``: for each module, its public classes and functions (those
defined by the library itself, not its imports).
"""

import importlib
import inspect
import json
import types
import warnings

warnings.filterwarnings("ignore")
MODULES = (
    "avalanche.core",
    "avalanche.training",
    "avalanche.training.plugins",
    "avalanche.training.storage_policy",
    "avalanche.training.templates",
    "avalanche.models",
    "avalanche.benchmarks",
    "avalanche.benchmarks.utils",
    "avalanche.evaluation.metrics",
    "avalanche.logging",
)
names = {}
for name in MODULES:
    module = importlib.import_module(name)
    public = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    names[name] = sorted(
        {
            n
            for n in public
            if not isinstance(getattr(module, n, None), types.ModuleType)
            and str(getattr(getattr(module, n, None), "__module__", "")).startswith("avalanche")
        }
    )
print("NAMES " + json.dumps(names, sort_keys=True))


def keywords(cls):
    """The keywords ``cls(...)`` takes, following ``**kwargs`` up its bases."""
    found = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        found |= {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return sorted(found - {"self"})


training = importlib.import_module("avalanche.training")
strategies = {
    name: keywords(getattr(training, name))
    for name in names["avalanche.training"]
    if isinstance(getattr(training, name), type)
    and any(k.__name__ == "BaseTemplate" for k in getattr(training, name).__mro__)
}
print("SIGNATURES " + json.dumps(strategies, sort_keys=True))
