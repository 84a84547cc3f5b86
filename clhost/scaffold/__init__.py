"""Write a new plugin distribution with the skeleton every clhost distribution shares.

The files under ``template/`` are ``string.Template`` texts; path parts ``__module__`` and
``__short__`` become the import name and the short name. The generated distribution is a
working example (L2 anchoring) with passing tests, ready to be replaced by a real method.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

import importlib_metadata

from clhost import registry
from clhost.errors import ParameterError

TEMPLATE = Path(__file__).parent / "template"
# the first-party distributions, when the host runs from a checkout
CHECKOUT_PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
_KEBAB = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


@dataclass(frozen=True)
class PluginNames:
    """Every spelling of one plugin's name: ``l2-anchor`` gives distribution
    ``clhost-l2-anchor``, package ``clhost_l2_anchor``, classes ``L2Anchor`` and
    ``L2AnchorPlugin``."""

    name: str
    description: str

    @property
    def distribution(self) -> str:
        return f"clhost-{self.name}"

    @property
    def short(self) -> str:
        return self.name.replace("-", "_")

    @property
    def module(self) -> str:
        return f"clhost_{self.short}"

    @property
    def camel(self) -> str:
        return "".join(part[:1].upper() + part[1:] for part in self.name.split("-"))

    def substitutions(self) -> dict[str, str]:
        return {
            "name": self.name,
            "dist": self.distribution,
            "module": self.module,
            "short": self.short,
            "camel": self.camel,
            "description": self.description,
        }


def plugin_names(name: str, description: str = "") -> PluginNames:
    """Validate ``name`` (kebab-case; a ``clhost-`` prefix and underscores are accepted)."""
    cleaned = name.strip().lower().replace("_", "-").removeprefix("clhost-")
    if not _KEBAB.fullmatch(cleaned):
        raise ParameterError(
            f"plugin name {name!r} is not kebab-case: use lowercase letters, digits and "
            "dashes, starting with a letter (e.g. l2-anchor)"
        )
    camel = PluginNames(cleaned, "").camel
    return PluginNames(cleaned, description or f"{camel}: a clhost plugin.")


def name_taken(names: PluginNames) -> str | None:
    """Why ``names`` cannot be a new distribution, or ``None``: a first-party distribution
    of that name (in this checkout's ``plugins/`` or installed), or a strategy or plugin
    already registered under the name its entry points would take."""
    first_party = {
        registry.normalize_distribution(path.name)
        for path in CHECKOUT_PLUGINS.glob("clhost-*")
        if (path / "pyproject.toml").exists()
    }
    if names.distribution in first_party:
        return f"{names.distribution} is a first-party distribution (plugins/{names.distribution})"
    try:
        installed = importlib_metadata.distribution(names.distribution)
    except importlib_metadata.PackageNotFoundError:
        pass
    else:
        return f"{names.distribution} {installed.version} is already installed"
    for kind in ("strategy", "plugin"):
        for entry in registry.scan(kind).entries:
            if entry.name == names.name:
                return f"{entry.label} is already registered under that name"
    return None


def write_distribution(names: PluginNames, parent: Path) -> Path:
    """Write the distribution into ``parent / names.distribution``; never overwrite, and
    never take a name that a first-party or installed distribution already uses."""
    taken = name_taken(names)
    if taken is not None:
        raise ParameterError(f"plugin name {names.name!r} is taken: {taken}; choose another")
    root = parent / names.distribution
    if root.exists():
        raise ParameterError(f"{root} already exists; choose another name or directory")
    values = names.substitutions()
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE).with_suffix("")
        target = root / str(relative).replace("__module__", names.module).replace(
            "__short__", names.short
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(string.Template(source.read_text()).substitute(values))
    return root
