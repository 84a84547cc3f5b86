"""Find strategies, plugins, buffers ... through entry points, and load them one at a time.

Listing reads distribution metadata only: no plugin code is imported (and so no torch), so
``clhost list`` stays instant however many plugins are installed. Loading imports one entry
point; a plugin that fails to import becomes a ``PluginLoadError`` for that plugin alone.

Two environment variables pin what is visible, in the style of pytest and llm:

- ``CLHOST_PLUGINS=dist-a,dist-b``: only these distributions (and the host's own) are
  visible; an empty value hides every plugin distribution.
- ``CLHOST_DISABLE_PLUGIN_AUTOLOAD=1``: no distribution but the host's is visible, unless
  ``CLHOST_PLUGINS`` names some: then exactly those are.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import importlib_metadata

from clhost.errors import DuplicateEntryError, PluginLoadError, UnknownNameError, closest

GROUPS: dict[str, str] = {
    "strategy": "clhost.strategies",
    "plugin": "clhost.plugins",
    "buffer": "clhost.buffers",
    "selection": "clhost.selection",
    "loss": "clhost.losses",
    "benchmark": "clhost.benchmarks",
    "logger": "clhost.loggers",
}
KINDS = tuple(GROUPS)
HOST_DISTRIBUTION = "clhost"
ALLOW_LIST_VARIABLE = "CLHOST_PLUGINS"
NO_AUTOLOAD_VARIABLE = "CLHOST_DISABLE_PLUGIN_AUTOLOAD"

_KIND_ALIASES = {
    **{kind: kind for kind in GROUPS},
    **{group: kind for kind, group in GROUPS.items()},
    **{group.split(".", 1)[1]: kind for kind, group in GROUPS.items()},  # "strategies"
}


class AllowListWarning(UserWarning):
    """``CLHOST_PLUGINS`` names a distribution that registers no clhost component."""


@dataclass(frozen=True)
class Entry:
    """One registered name: what it points to and which distribution provides it."""

    kind: str
    name: str
    value: str
    distribution: str
    version: str

    @property
    def group(self) -> str:
        return GROUPS[self.kind]

    @property
    def label(self) -> str:
        """``kind 'name' (distribution)``: how messages refer to the entry."""
        return f"{self.kind} {self.name!r} ({self.distribution})"

    def load(self) -> Any:
        """Import the object; any failure becomes a ``PluginLoadError`` for this entry only."""
        entry_point = importlib_metadata.EntryPoint(self.name, self.value, self.group)
        try:
            return entry_point.load()
        except Exception as error:  # a broken plugin must not take the host down
            text = f"{type(error).__name__}: {error}"
            raise PluginLoadError(
                f"cannot load {self.label} from {self.value}: {text}",
                name=self.name,
                distribution=self.distribution,
                error=text,
            ) from error


@dataclass
class Scan:
    """Every visible entry, and the names two distributions claim in one group."""

    entries: list[Entry] = field(default_factory=list)
    duplicates: list[tuple[Entry, Entry]] = field(default_factory=list)

    def errors(self, name: str | None = None) -> list[DuplicateEntryError]:
        """One error per name claimed twice (only for ``name`` when given)."""
        return [
            duplicate_error(first, second)
            for first, second in self.duplicates
            if name is None or first.name == name
        ]


def kind_of(text: str) -> str:
    """``strategy``, ``strategies`` and ``clhost.strategies`` all name the kind ``strategy``."""
    kind = _KIND_ALIASES.get(text.strip().lower())
    if kind is None:
        raise UnknownNameError("kind", text, KINDS)
    return kind


def scan(kind: str | None = None) -> Scan:
    """Read the entry points of one kind (or all) from metadata, without importing them.

    ``importlib_metadata.entry_points`` sees each distribution once (the first on
    ``sys.path`` wins, as for imports); only distributions that register clhost entry
    points have their metadata read, which keeps listing fast.
    """
    kinds = KINDS if kind is None else (kind_of(kind),)
    allowed = allowed_distributions()
    every = importlib_metadata.entry_points()
    identities: dict[int, tuple[str, str]] = {}
    result = Scan()
    owners: dict[tuple[str, str], Entry] = {}
    if allowed is not None:
        _warn_unmatched(allowed, every, identities)
    for each in kinds:
        for entry_point in every.select(group=GROUPS[each]):
            identity = _identity(entry_point, identities)
            if identity is None:
                continue
            name, version = identity
            if allowed is not None and normalize_distribution(name) not in allowed:
                continue
            entry = Entry(each, entry_point.name, entry_point.value, name, version)
            first = owners.setdefault((each, entry.name), entry)
            if first is not entry:
                result.duplicates.append((first, entry))
            else:
                result.entries.append(entry)
    result.entries.sort(key=lambda e: (KINDS.index(e.kind), e.name))
    return result


def _identity(
    entry_point: importlib_metadata.EntryPoint, identities: dict[int, tuple[str, str]]
) -> tuple[str, str] | None:
    """``(name, version)`` of the distribution of ``entry_point``, read once per scan."""
    distribution = entry_point.dist
    if distribution is None:
        return None
    if id(distribution) not in identities:
        metadata = distribution.metadata  # parsed on each access: read it once
        identities[id(distribution)] = (metadata["Name"], metadata["Version"])
    return identities[id(distribution)]


def _warn_unmatched(
    allowed: set[str],
    every: importlib_metadata.EntryPoints,
    identities: dict[int, tuple[str, str]],
) -> None:
    """Warn about each ``CLHOST_PLUGINS`` name that no installed distribution registering
    clhost components has: a typo there hides a component without saying so otherwise."""
    installed = {
        normalize_distribution(identity[0])
        for group in GROUPS.values()
        for entry_point in every.select(group=group)
        if (identity := _identity(entry_point, identities)) is not None
    }
    for name in sorted(allowed - installed - {HOST_DISTRIBUTION}):
        matches = closest(name, installed)
        hint = f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
        warnings.warn(
            f"{ALLOW_LIST_VARIABLE} names {name!r}, but no installed distribution of that "
            f"name registers clhost components (the ones it meant stay hidden){hint}",
            AllowListWarning,
            stacklevel=3,
        )


def list_entries(kind: str | None = None) -> list[Entry]:
    """Every visible entry of one kind (or all), sorted; a name claimed twice is an error."""
    found = scan(kind)
    for error in found.errors():
        raise error
    return found.entries


def get_entry(kind: str, name: str) -> Entry:
    """The entry ``name`` of ``kind``; an unknown name lists the closest known ones."""
    found = scan(kind)
    entries = {entry.name: entry for entry in found.entries}
    entry = entries.get(name) or entries.get(normalize_name(name))
    if entry is None:
        raise UnknownNameError(kind_of(kind), name, entries)
    for error in found.errors(entry.name):
        raise error
    return entry


def load(kind: str, name: str) -> Any:
    """Import and return the object registered as ``name`` in ``kind``."""
    return get_entry(kind, name).load()


def normalize_name(name: str) -> str:
    """Entry-point names are kebab-case: ``Class_Balanced`` finds ``class-balanced``."""
    return name.strip().lower().replace("_", "-")


def normalize_distribution(name: str) -> str:
    """The PEP 503 form, so ``clhost_ewc`` and ``clhost-EWC`` name the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def allowed_distributions() -> set[str] | None:
    """The normalized distribution names the environment allows; ``None`` means all."""
    allow_list = os.environ.get(ALLOW_LIST_VARIABLE)
    if allow_list is not None:
        named = {normalize_distribution(n.strip()) for n in allow_list.split(",") if n.strip()}
        return named | {HOST_DISTRIBUTION}
    if os.environ.get(NO_AUTOLOAD_VARIABLE, "").strip().lower() not in ("", "0", "false", "no"):
        return {HOST_DISTRIBUTION}
    return None


def duplicate_error(first: Entry, second: Entry) -> DuplicateEntryError:
    return DuplicateEntryError(
        f"{first.kind} name {first.name!r} is registered by two distributions: "
        f"{first.distribution} ({first.value}) and {second.distribution} ({second.value}); "
        f"uninstall one, or pick one with {ALLOW_LIST_VARIABLE}=<distribution,...>"
    )
