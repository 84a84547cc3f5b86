"""docs/migrating-from-avalanche.md names every public Avalanche name the layer mirrors
or refuses, and nothing else."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from clhost_avalanche._exports import NotSupported
from clhost_avalanche._finder import MISSING_MODULES

PAGE = Path(__file__).resolve().parents[3] / "docs" / "migrating-from-avalanche.md"


def documented() -> set[str]:
    table = PAGE.read_text().split("## Name by name", 1)[1]
    return set(re.findall(r"`(avalanche(?:\.\w+)+)`", table))


def test_every_public_avalanche_name_is_in_the_table(reference):
    names = documented()
    missing = [
        f"{module}.{name}"
        for module, public in reference["public_names"].items()
        for name in public
        if f"{module}.{name}" not in names
    ]
    assert not missing, missing


def test_every_documented_name_resolves_or_fails_with_one_line():
    for full in sorted(documented() - set(MISSING_MODULES)):
        module, _, name = full.rpartition(".")
        target = importlib.import_module("clhost_avalanche" + module[len("avalanche") :])
        try:
            getattr(target, name)
        except NotSupported as error:
            assert "\n" not in str(error)
