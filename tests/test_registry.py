"""The registry finds entry points from metadata alone and loads each in isolation."""

from __future__ import annotations

import sys

import pytest
from _fake_distributions import make_distribution

from clhost import registry
from clhost.errors import DuplicateEntryError, PluginLoadError, UnknownNameError

GOOD = "fakeplug_good"
BROKEN = "fakeplug_broken"
LAST = "fakeplug_last"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A directory on sys.path holding two plugin distributions: one that imports, one
    whose module raises on import. Only they (and the host) are visible."""
    site = tmp_path / "site"
    make_distribution(
        site,
        "fake-good",
        {
            "clhost.strategies": {"zeta": f"{LAST}:Zeta", "alpha": f"{GOOD}:Alpha"},
            "clhost.plugins": {"good-plugin": f"{GOOD}:Alpha"},
        },
        {GOOD: "class Alpha:\n    pass\n", LAST: "class Zeta:\n    pass\n"},
    )
    make_distribution(
        site,
        "fake-broken",
        {"clhost.strategies": {"broken": f"{BROKEN}:Thing"}},
        {BROKEN: 'raise RuntimeError("boom")\n'},
        version="2.5",
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-good,fake-broken")
    monkeypatch.delenv(registry.NO_AUTOLOAD_VARIABLE, raising=False)
    yield site
    for module in [name for name in sys.modules if name.startswith("fakeplug_")]:
        del sys.modules[module]


def names(kind=None):
    return [(e.kind, e.name) for e in registry.list_entries(kind)]


def test_listing_reads_metadata_without_importing(site):
    entries = registry.list_entries("strategy")
    assert [(e.name, e.distribution, e.version) for e in entries] == [
        ("alpha", "fake-good", "1.0"),
        ("broken", "fake-broken", "2.5"),
        ("zeta", "fake-good", "1.0"),
    ]
    assert entries[0].value == f"{GOOD}:Alpha" and entries[0].group == "clhost.strategies"
    assert not any(name.startswith("fakeplug_") for name in sys.modules)


def test_every_kind_is_listed_in_kind_order(site):
    listed = names()
    assert ("plugin", "good-plugin") in listed and ("benchmark", "split-digits") in listed
    kinds = [kind for kind, _ in listed]
    assert kinds == sorted(kinds, key=registry.KINDS.index)


def test_kind_aliases():
    assert registry.kind_of("strategies") == "strategy"
    assert registry.kind_of("clhost.losses") == "loss"
    assert registry.kind_of("Selection") == "selection"
    with pytest.raises(UnknownNameError, match="did you mean 'plugin'"):
        registry.kind_of("plugn")


def test_load_imports_only_the_entry_asked_for(site):
    alpha = registry.load("strategy", "alpha")
    assert alpha.__name__ == "Alpha"
    assert BROKEN not in sys.modules


def test_import_failure_is_a_record_and_spares_the_others(site):
    with pytest.raises(PluginLoadError) as caught:
        registry.load("strategy", "broken")
    failure = caught.value
    assert (failure.name, failure.distribution) == ("broken", "fake-broken")
    assert failure.error == "RuntimeError: boom"
    assert "fake-broken" in str(failure) and "boom" in str(failure)

    assert registry.load("strategy", "alpha").__name__ == "Alpha"
    assert registry.load("strategy", "zeta") is not None


def test_missing_attribute_is_a_load_error(site, monkeypatch):
    make_distribution(site, "fake-typo", {"clhost.losses": {"typo": f"{GOOD}:Missing"}})
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-typo")
    with pytest.raises(PluginLoadError, match="AttributeError") as caught:
        registry.load("loss", "typo")
    assert caught.value.distribution == "fake-typo"


def test_unknown_name_suggests_close_matches(site):
    with pytest.raises(UnknownNameError, match="did you mean 'alpha'"):
        registry.get_entry("strategy", "alpah")


def test_names_are_found_in_any_case_and_with_underscores(site):
    assert registry.get_entry("plugins", "Good_Plugin").name == "good-plugin"


def test_two_distributions_claiming_one_name_is_an_error_naming_both(site, monkeypatch):
    make_distribution(site, "fake-rival", {"clhost.strategies": {"alpha": "elsewhere:Alpha"}})
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-good,fake-rival")
    with pytest.raises(DuplicateEntryError) as caught:
        registry.list_entries("strategy")
    message = str(caught.value)
    assert "'alpha'" in message and "fake-good" in message and "fake-rival" in message
    with pytest.raises(DuplicateEntryError):
        registry.get_entry("strategy", "alpha")
    assert registry.get_entry("strategy", "zeta").distribution == "fake-good"
    assert registry.list_entries("plugin")  # other kinds are unaffected


def test_the_same_distribution_twice_on_sys_path_is_not_a_duplicate(site, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    make_distribution(copy, "fake-good", {"clhost.strategies": {"alpha": f"{GOOD}:Alpha"}})
    monkeypatch.syspath_prepend(str(copy))
    # no DuplicateEntryError, and the copy first on sys.path wins (it has no "zeta")
    assert [e.name for e in registry.list_entries("strategy")] == ["alpha", "broken"]


def test_allow_list_limits_distributions(site, monkeypatch):
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, " Fake_Good ")
    assert [e.name for e in registry.list_entries("strategy")] == ["alpha", "zeta"]
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "")
    assert registry.list_entries("strategy") == []
    # the host's own entries stay visible: the default experiment needs them
    assert "split-digits" in [e.name for e in registry.list_entries("benchmark")]


def test_disabling_autoload_leaves_only_the_host(site, monkeypatch):
    monkeypatch.delenv(registry.ALLOW_LIST_VARIABLE)
    monkeypatch.setenv(registry.NO_AUTOLOAD_VARIABLE, "1")
    assert {e.distribution for e in registry.list_entries()} == {"clhost"}
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-broken")  # pins exactly these
    assert [e.name for e in registry.list_entries("strategy")] == ["broken"]
    monkeypatch.delenv(registry.ALLOW_LIST_VARIABLE)
    monkeypatch.setenv(registry.NO_AUTOLOAD_VARIABLE, "0")
    assert "alpha" in [e.name for e in registry.list_entries("strategy")]
