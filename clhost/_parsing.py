"""Split command-line text into names and ``key=value`` pairs; the values stay text
until ``clhost._convert`` converts them by the target's annotations."""

from __future__ import annotations

from collections.abc import Iterable

from clhost.errors import ParameterError


def parse_assignments(items: Iterable[str], *, what: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; anything else is a ``ParameterError``."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"{what}: expected key=value, got {item!r}")
        values[key.strip()] = value.strip()
    return values


def parse_spec(spec: str, *, what: str) -> tuple[str, dict[str, str]]:
    """``"name:k=v,k2=v2"`` -> ``("name", {"k": "v", "k2": "v2"})``.

    A comma-separated piece without ``=`` continues the previous value, so
    ``mlp:hidden_sizes=256,128,dropout=0.1`` keeps ``hidden_sizes`` a list.
    """
    name, _, rest = spec.partition(":")
    if not name.strip():
        raise ParameterError(f"{what}: expected NAME or NAME:key=value,..., got {spec!r}")
    pieces: list[str] = []
    for piece in rest.split(",") if rest.strip() else ():
        if "=" in piece or not pieces:
            pieces.append(piece)
        else:
            pieces[-1] += "," + piece
    return name.strip(), parse_assignments(pieces, what=f"{what} {name.strip()!r}")
