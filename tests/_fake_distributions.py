"""Installed-looking distributions made of files in a temporary directory.

A ``*.dist-info`` folder with ``METADATA`` and ``entry_points.txt`` next to the modules it
names is all ``importlib_metadata`` needs, so registry and CLI tests see real entry points
without installing anything.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_distribution(
    site: Path,
    name: str,
    entry_points: dict[str, dict[str, str]],
    modules: dict[str, str] | None = None,
    version: str = "1.0",
) -> Path:
    """Write distribution ``name`` into ``site``: entry points by group, and module sources."""
    site.mkdir(parents=True, exist_ok=True)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    sections = [
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items())
        for group, entries in entry_points.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(sections))
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    return info
