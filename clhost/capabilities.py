"""Declared composition rules: what a component provides, conflicts with, or requires.

A strategy, plugin, criterion or model module declares a class attribute
``capabilities = Capabilities(...)``; the template checks every pair of its components
when it is built, so a composition that cannot be right (GDumb with Cumulative, joint
training with replay, a contrastive loss on a model without a projection head) is refused
with the reason, for Python users and the CLI alike. Names are free-form strings; the
ones below are those first-party components use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from clhost.errors import PluginCompositionError

TRAINING_DATA = "training-data"
WHOLE_STREAM = "whole-stream"
REHEARSAL = "rehearsal"
PROJECTION_HEAD = "projection-head"
META_LEARNING = "meta-learning"

# what a component providing each capability does, as messages say it
MEANINGS: Mapping[str, str] = MappingProxyType(
    {
        TRAINING_DATA: "replaces the data each experience trains on",
        WHOLE_STREAM: "trains once on the whole stream",
        REHEARSAL: "rehearses samples of past experiences",
        PROJECTION_HEAD: "has a projection head giving normalised embeddings",
        META_LEARNING: "trains each minibatch by inner updates then an outer update",
    }
)


@dataclass(frozen=True)
class Capabilities:
    """What a component class ``provides``, and for each capability it ``conflicts`` with
    or ``requires``, why (a clause that completes "... and <why>")."""

    provides: frozenset[str] = frozenset()
    conflicts: Mapping[str, str] = field(default_factory=dict)
    requires: Mapping[str, str] = field(default_factory=dict)

    def __init__(
        self,
        provides: Iterable[str] = (),
        conflicts: Mapping[str, str] | None = None,
        requires: Mapping[str, str] | None = None,
    ):
        object.__setattr__(self, "provides", frozenset(provides))
        object.__setattr__(self, "conflicts", MappingProxyType(dict(conflicts or {})))
        object.__setattr__(self, "requires", MappingProxyType(dict(requires or {})))


NONE = Capabilities()


def capabilities_of(component: object) -> Capabilities:
    """The capabilities ``component`` declares (see ``declared_by``)."""
    return declared_by(type(component))


def declared_by(cls: type) -> Capabilities:
    """The capabilities class ``cls`` declares; a strategy with ``trains_on_whole_stream``
    provides ``whole-stream`` (that attribute is the one source of that fact)."""
    declared = getattr(cls, "capabilities", NONE)
    if not isinstance(declared, Capabilities):
        declared = NONE
    if getattr(cls, "trains_on_whole_stream", False) is True:
        return Capabilities(
            declared.provides | {WHOLE_STREAM}, declared.conflicts, declared.requires
        )
    return declared


def check_composition(components: Sequence[tuple[str, object]]) -> None:
    """Refuse ``(label, component)`` pairs that conflict, or a requirement nobody meets."""
    declared = [(label, capabilities_of(c)) for label, c in components]
    declared = [(label, caps) for label, caps in declared if caps is not NONE]
    for position, (label, caps) in enumerate(declared):
        others = declared[:position] + declared[position + 1 :]
        for capability, why in caps.conflicts.items():
            for other, other_caps in others:
                if capability in other_caps.provides:
                    raise PluginCompositionError(
                        f"{label} and {other} cannot work together: {other} "
                        f"{_meaning(capability)}, and {why}"
                    )
        for capability, why in caps.requires.items():
            if not any(capability in other_caps.provides for _, other_caps in others):
                raise PluginCompositionError(
                    f"{label} needs a component that {_meaning(capability)}: {why}"
                )


def describe(capabilities: Capabilities) -> list[str]:
    """One line per declaration, as ``clhost info`` prints them."""
    lines = [f"provides {name}: {_meaning(name)}" for name in sorted(capabilities.provides)]
    lines += [f"conflicts with {name}: {why}" for name, why in capabilities.conflicts.items()]
    lines += [f"requires {name}: {why}" for name, why in capabilities.requires.items()]
    return lines


def _meaning(capability: str) -> str:
    return MEANINGS.get(capability, f"provides {capability!r}")
