"""The site's catalogue page (docs/site_catalogue.py) covers what is installed, as it is."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from _fake_distributions import make_distribution

from clhost import registry
from clhost.cli._options import tomllib

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "site_catalogue", ROOT / "docs" / "site_catalogue.py"
)
assert _spec is not None and _spec.loader is not None
catalogue = sys.modules["site_catalogue"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(catalogue)


@pytest.fixture(scope="module")
def listed():
    return {dist.name: dist for dist in catalogue.catalogue()}


def _entry_points(project: Path) -> dict[str, set[str]]:
    """``{group: names}`` as the pyproject.toml of ``project`` declares them."""
    declared = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    return {group: set(names) for group, names in declared.get("entry-points", {}).items()}


def test_every_first_party_distribution_with_every_entry_point(listed):
    for project in [ROOT, *sorted(ROOT.glob("plugins/*"))]:
        declared = _entry_points(project)
        if not declared:
            continue
        name = project.name if project != ROOT else registry.HOST_DISTRIBUTION
        assert name in listed, f"{name} is missing from the catalogue"
        found: dict[str, set[str]] = {}
        for component in listed[name].components:
            assert component.error is None, f"{component.entry.label}: {component.error}"
            found.setdefault(component.entry.group, set()).add(component.entry.name)
        assert found == declared, name


def test_replay_with_its_parameters_hooks_and_readme(listed):
    replay = listed["clhost-replay"]
    assert replay.version == "0.1.0"
    assert replay.description.startswith("Experience Replay")
    assert replay.about.startswith("**Experience Replay**") and "Chaudhry" in replay.about
    by_kind = {c.entry.kind: c for c in replay.components}
    strategy = {p.name: p for p in by_kind["strategy"].parameters}
    assert strategy["mem_size"].default == 200
    assert strategy["mem_size"].describe() == "mem_size: int = 200"
    assert "model" not in strategy  # the template's keywords, named by template:
    assert [t.rsplit(".", 1)[1] for t in by_kind["strategy"].templates] == ["BaseSGDTemplate"]
    assert {"clhost_train_dataloader", "clhost_after_training_exp"} <= set(by_kind["plugin"].hooks)
    page = catalogue.render([replay])
    assert "## clhost-replay {#clhost-replay}" in page
    assert "- `mem_size: int = 200`" in page
    assert "`clhost_train_dataloader`" in page


def test_a_required_parameter_has_no_default(listed):
    (buffer,) = listed["clhost-buffer-class-balanced"].components
    assert "`max_size: int`" in catalogue.render([listed["clhost-buffer-class-balanced"]])
    assert {p.name: p for p in buffer.parameters}["max_size"].required


def test_readme_paragraph_keeps_urls_and_drops_repository_paths():
    text = "# clhost-x\n\nSee [the host](../../README.md) and\n[pluggy](https://x.org).\n\nMore."
    assert catalogue.first_paragraph(text) == (
        "See [the host](../../README.md) and [pluggy](https://x.org)."
    )
    assert catalogue.readme_paragraph(text) == ("See the host and [pluggy](https://x.org).")


FAKE = """
import clhost
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate


class AnchorPlugin(SupervisedPlugin):
    def __init__(self, strength: float = 1.0):
        self.strength = strength

    @clhost.hookimpl
    def clhost_after_training_exp(self, strategy):
        pass


class Anchor(SupervisedTemplate):
    plugin_class = AnchorPlugin  # what a strategy declared with plugin=AnchorPlugin holds
"""


def test_fake_distribution_a_declared_strategy_and_a_broken_plugin(tmp_path, monkeypatch):
    site = tmp_path / "site"
    make_distribution(
        site,
        "fake-doc",
        {
            "clhost.strategies": {"anchor": "fakedoc_parts:Anchor"},
            "clhost.plugins": {"broken-doc": "fakedoc_broken:Plugin"},
        },
        {"fakedoc_parts": FAKE, "fakedoc_broken": "raise ImportError('needs a library')\n"},
        version="2.5",
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-doc")
    try:
        names = {dist.name: dist for dist in catalogue.catalogue()}
    finally:
        for module in ("fakedoc_parts", "fakedoc_broken"):
            sys.modules.pop(module, None)
    assert set(names) == {registry.HOST_DISTRIBUTION, "fake-doc"}
    fake = names["fake-doc"]
    assert (fake.version, fake.description, fake.about) == ("2.5", "", "")
    strategy, broken = fake.components
    assert strategy.parameters == []  # only the template's keywords
    assert strategy.hooks == ["clhost_after_training_exp"]  # its plugin's
    assert broken.error == "ImportError: needs a library"
    page = catalogue.render([fake])
    assert "Parameters: every keyword of the template [`" in page
    assert 'Cannot be loaded"\n    `ImportError: needs a library`' in page
