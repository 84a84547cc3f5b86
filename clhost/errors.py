"""Exceptions raised for user mistakes: each carries one clear message."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ClhostError(Exception):
    """Base of every error clhost raises on purpose."""


class PluginCompositionError(ClhostError, TypeError):
    """Plugins that cannot work together, or with the template they were given to."""


class UnknownNameError(ClhostError, LookupError):
    """A name (plugin, hook, parameter, benchmark ...) that does not exist."""

    def __init__(self, what: str, name: str, known: Iterable[str]):
        self.what, self.name, self.known = what, name, sorted(known)
        super().__init__(unknown_name_message(what, name, self.known))

    def __str__(self) -> str:  # LookupError would otherwise repr() the message
        return self.args[0]


class PluginLoadError(ClhostError):
    """A plugin whose code failed to import or did not expose what its entry point names.

    ``name``, ``distribution`` and ``error`` say which entry point failed and why, so a
    listing can report the failure and carry on with the other plugins.
    """

    def __init__(self, message: str, *, name: str = "", distribution: str = "", error: str = ""):
        super().__init__(message)
        self.name, self.distribution, self.error = name, distribution, error


class DuplicateEntryError(ClhostError):
    """Two distributions register the same name in the same entry-point group."""


class CheckpointError(ClhostError):
    """A checkpoint that is corrupt, of another format, or for another experiment."""


class ParameterError(ClhostError, ValueError):
    """A parameter value that does not fit what the parameter expects."""


class NonFiniteError(ClhostError, FloatingPointError):
    """Training produced a non-finite loss or non-finite weights (a numeric blow-up).

    ``strategy``, ``experience`` and ``iteration`` (within the experience, from 0) say
    where; the message also says how to avoid it.
    """

    def __init__(self, message: str, *, strategy: str, experience: int, iteration: int):
        super().__init__(message)
        self.strategy, self.experience, self.iteration = strategy, experience, iteration


def closest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The known names that look most like ``name``: those it begins (``gss`` finds
    ``gss-greedy``), then those containing it, then the closest spellings."""
    known = sorted(known)
    key = name.strip().lower()
    prefixed = [k for k in known if key and k.lower().startswith(key)]
    contained = [k for k in known if len(key) >= 3 and key in k.lower()]
    similar = difflib.get_close_matches(name, known, n=n, cutoff=0.5)
    return list(dict.fromkeys([*prefixed, *contained, *similar]))[:n]


def unknown_name_message(what: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    message = f"unknown {what} {name!r}"
    matches = closest(name, known)
    if matches:
        message += f"; did you mean {', '.join(repr(m) for m in matches)}?"
    elif known:
        message += f"; known: {', '.join(known)}"
    return message
