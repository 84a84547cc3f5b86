"""Avalanche-style script: the public names of the modules the layer mirrors.

Prints ``NAMES <json>``: for each module, its public classes and functions (those
defined by the library itself, not its imports).
"""

import importlib
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
