"""The import hook: ``avalanche`` and its submodules resolve to this layer.

Installed only by ``python -m clhost_avalanche`` (``__main__``), first on
``sys.meta_path``, so an installed Avalanche is never imported in that process and never
touched outside it. ``avalanche.x.y`` is the very module object ``clhost_avalanche.x.y``
(one module under two names); a submodule the layer does not mirror fails at import with
one line naming the clhost alternative.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType

from clhost_avalanche._exports import DOCS, not_supported

ROOT = "avalanche"
LAYER = "clhost_avalanche"

MISSING_MODULES = {
    "avalanche.benchmarks.datasets": "use clhost-vision's torchvision readers "
    "(avalanche.benchmarks.classic's SplitMNIST, ... with dataset_root)",
    "avalanche.checkpointing": "use strategy.state_dict()/load_state_dict() and "
    "clhost.checkpoint (docs/checkpoints.md)",
    "avalanche.distributed": "run clhost under torchrun (docs/distributed.md)",
    "avalanche.training.determinism": "seed torch yourself; clhost runs are deterministic "
    "on the CPU",
}


class AvalancheFinder(importlib.abc.MetaPathFinder):
    """Finds ``avalanche[.x...]`` as the layer's ``clhost_avalanche[.x...]``."""

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != ROOT and not fullname.startswith(ROOT + "."):
            return None
        mirrored = LAYER + fullname[len(ROOT) :]
        try:
            found = importlib.util.find_spec(mirrored)
        except ModuleNotFoundError:  # a parent the layer does not mirror
            found = None
        if found is None or mirrored.rsplit(".", 1)[-1].startswith("_"):
            raise _missing(fullname)
        return importlib.util.spec_from_loader(
            fullname,
            _AliasLoader(mirrored),
            is_package=found.submodule_search_locations is not None,
        )


class _AliasLoader(importlib.abc.Loader):
    """Loads a name as an already importable module of the layer (no second copy)."""

    def __init__(self, target: str):
        self.target = target
        self.own_spec: ModuleSpec | None = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.own_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The module ran when the layer imported it; importlib has just given it the
        alias's spec, so it gets its own back (reloads and pickles keep its real name)."""
        module.__spec__ = self.own_spec


def install() -> AvalancheFinder:
    """Put the finder first on ``sys.meta_path`` (once) and return it."""
    for finder in sys.meta_path:
        if isinstance(finder, AvalancheFinder):
            return finder
    stale = [name for name in sys.modules if name == ROOT or name.startswith(ROOT + ".")]
    for name in stale:  # a real Avalanche imported before the hook must not be mixed in
        del sys.modules[name]
    finder = AvalancheFinder()
    sys.meta_path.insert(0, finder)
    return finder


def _missing(fullname: str) -> Exception:
    for module, alternative in MISSING_MODULES.items():
        if fullname == module or fullname.startswith(module + "."):
            return not_supported(f"module {module}", alternative)
    return not_supported(f"module {fullname}", f"see {DOCS} for what is mirrored")
