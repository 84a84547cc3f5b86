"""clhost list / info / hooks / check, against fake distributions with real entry points."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _fake_distributions import make_distribution
from click.testing import CliRunner

from clhost import registry
from clhost.cli import main
from clhost.hookspecs import (
    FIRING_ORDER,
    HOOK_GROUPS,
    BaseTemplateHooks,
    MetaLearningHooks,
    hook_names,
)

PARTS = "fakecli_parts"
BROKEN = "fakecli_broken"
BAD = "fakecli_bad"

PARTS_SOURCE = '''
import torch

import clhost
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import ExemplarsBuffer
from clhost.templates import SupervisedTemplate
from typing import Literal


class AnchorPlugin(SupervisedPlugin):
    """Adds a named term after the first experience."""

    def __init__(self, strength: float = 1.0, mode: Literal["a", "b"] = "a"):
        self.strength, self.mode = strength, mode

    @clhost.hookimpl
    def clhost_after_training_exp(self, strategy):
        pass

    @clhost.hookimpl(tryfirst=True)
    def clhost_loss_terms(self, strategy):
        return None

    @clhost.hookimpl
    def clhost_before_training_exp(self):
        pass


class Anchor(SupervisedTemplate):
    """SupervisedTemplate with AnchorPlugin."""

    def __init__(self, *, strength: float = 1.0, **kwargs):
        super().__init__(plugins=[AnchorPlugin(strength), *kwargs.pop("plugins", ())], **kwargs)


class Repeating(SupervisedTemplate):
    """Repeats the template inputs it needs; its own parameter has a default."""

    def __init__(self, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 gamma: float = 0.5, **kwargs):
        super().__init__(model=model, optimizer=optimizer, **kwargs)


class ListBuffer(ExemplarsBuffer):
    """Keeps nothing; enough to be a buffer."""

    def __init__(self, max_size: int = 10):
        super().__init__(max_size)

    def update(self, strategy):
        pass


def digits_like(n_experiences: int = 2, *, seed: int = 0):
    """A toy benchmark."""
    from clhost.testing import toy_benchmark

    return toy_benchmark(n_experiences, 2, seed=seed)
'''

BAD_SOURCE = '''
import clhost
from clhost.templates import SupervisedTemplate


class Misspelled:
    """Implements a hook that does not exist."""

    @clhost.hookimpl
    def clhost_after_trainig_exp(self, strategy):
        pass


class Unmarked:
    """Forgot the marker."""

    def clhost_after_training_exp(self, strategy):
        pass


class NoHooks:
    """Implements nothing."""


class Unannotated:
    """A plugin whose parameter the CLI cannot parse."""

    def __init__(self, strength=1.0, size: int = 2):
        pass

    @clhost.hookimpl
    def clhost_after_training_exp(self, strategy):
        pass


class NotAStrategy:
    """Not a template."""


class NotABuffer:
    """Not an ExemplarsBuffer."""


class Clashing(SupervisedTemplate):
    """Builds with a plugin its template never fires."""

    def __init__(self, **kwargs):
        super().__init__(plugins=[Meta()], **kwargs)


class NoDefault(SupervisedTemplate):
    """A method parameter without a default."""

    def __init__(self, *, lam: float, **kwargs):
        super().__init__(**kwargs)


class Meta:
    @clhost.hookimpl
    def clhost_before_inner_updates(self, strategy):
        pass


class Undocumented:
    @clhost.hookimpl
    def clhost_after_training_exp(self, strategy):
        pass
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Fake distributions on sys.path; only they and the host are visible."""
    site = tmp_path / "site"
    make_distribution(
        site,
        "fake-parts",
        {
            "clhost.strategies": {"anchor": f"{PARTS}:Anchor", "repeating": f"{PARTS}:Repeating"},
            "clhost.plugins": {"anchor": f"{PARTS}:AnchorPlugin"},
            "clhost.buffers": {"list-buffer": f"{PARTS}:ListBuffer"},
            "clhost.benchmarks": {"digits-like": f"{PARTS}:digits_like"},
        },
        {PARTS: PARTS_SOURCE},
        version="3.1",
    )
    make_distribution(
        site,
        "fake-broken",
        {"clhost.plugins": {"broken": f"{BROKEN}:Plugin"}},
        {BROKEN: "raise ImportError('needs a library that is not installed')\n"},
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-parts,fake-broken")
    monkeypatch.delenv(registry.NO_AUTOLOAD_VARIABLE, raising=False)
    yield site
    for module in [name for name in sys.modules if name.startswith("fakecli_")]:
        del sys.modules[module]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_list_does_not_import_torch_or_plugins(tmp_path):
    make_distribution(
        tmp_path, "fake-broken", {"clhost.plugins": {"broken": f"{BROKEN}:Plugin"}}, {BROKEN: ""}
    )
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from clhost.cli import main\n"
        "try:\n"
        "    main(['list'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        f"assert 'torch' not in sys.modules and {BROKEN!r} not in sys.modules\n"
        "print('clean')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "broken" in done.stdout and done.stdout.rstrip().endswith("clean")


def test_list_shows_kind_name_distribution_and_value(site):
    result = invoke("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "strategy (clhost.strategies)" in lines
    row = next(line for line in lines if "list-buffer" in line)
    assert row.split() == ["list-buffer", "fake-parts", "3.1", f"{PARTS}:ListBuffer"]
    assert any(line.split()[:2] == ["broken", "fake-broken"] for line in lines)
    assert "(none installed)" in result.output  # selection and loss have no entries
    assert lines.index("buffer (clhost.buffers)") < lines.index("benchmark (clhost.benchmarks)")
    assert lines[-1] == "(limited by CLHOST_PLUGINS or CLHOST_DISABLE_PLUGIN_AUTOLOAD)"


def test_list_one_kind_by_any_spelling(site):
    for spelling in ("plugin", "plugins", "clhost.plugins"):
        result = invoke("list", spelling)
        assert result.exit_code == 0
        assert result.output.splitlines()[0] == "plugin (clhost.plugins)"
        assert "list-buffer" not in result.output and "anchor" in result.output


def test_list_unknown_kind_is_one_clear_error(site):
    result = invoke("list", "strats")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: unknown kind 'strats'; did you mean 'strategy'?"


def test_list_reports_a_name_claimed_twice(site, monkeypatch):
    make_distribution(site, "fake-rival", {"clhost.buffers": {"list-buffer": "x:Y"}})
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-parts,fake-rival")
    result = invoke("list", "buffer")
    assert result.exit_code == 1
    assert "fake-parts" in result.output and "fake-rival" in result.output
    assert "registered by two distributions" in result.output


def test_info_plugin(site):
    result = invoke("info", "anchor", "--kind", "plugin")
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith("anchor (plugin)\n  from fake-parts 3.1: fakecli_parts:AnchorPlugin")
    assert "Adds a named term after the first experience." in text
    assert "strength: float = 1.0" in text and "mode: Literal['a', 'b'] = 'a'" in text
    hooks = [line.strip() for line in text.split("Hooks")[1].splitlines()[1:]]
    assert hooks == [
        "clhost_before_training_exp",
        "clhost_loss_terms (tryfirst)",
        "clhost_after_training_exp",
    ]


def test_info_strategy_shows_template_parameters_and_call_order(site):
    result = invoke("info", "anchor", "--kind", "strategies")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Parameters:\n    strength: float = 1.0" in text
    assert "Passed on to BaseSGDTemplate:" in text and "train_mb_size: int = 32" in text
    order = text.split("call order:")[1].split()
    assert order[0] == "clhost_before_training_exp:" and order[1].startswith("AnchorPlugin")
    assert "clhost_loss_terms:" in order


def test_info_without_kind_shows_every_kind_with_that_name(site):
    result = invoke("info", "ANCHOR")
    assert result.exit_code == 0
    assert "anchor (strategy)" in result.output and "anchor (plugin)" in result.output


def test_info_of_a_broken_plugin_and_of_an_unknown_name(site):
    result = invoke("info", "broken")
    assert result.exit_code == 1
    assert "ImportError: needs a library that is not installed" in result.output
    result = invoke("info", "anchr")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: unknown name 'anchr'; did you mean 'anchor'?"


def test_hooks_lists_every_hookspec_with_its_group():
    result = invoke("hooks")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    listed = [line.split()[0] for line in lines if line.startswith("  clhost_")]
    assert sorted(listed) == sorted(hook_names())
    assert "SGDUpdateHooks: Fired by templates that do one forward/backward/update" in result.output
    at = next(i for i, row in enumerate(lines) if row.startswith("  clhost_train_dataloader"))
    assert "(exclusive, first result)" in lines[at]
    assert "Build the train dataloader" in lines[at + 1]


def test_hooks_shows_whole_descriptions_as_plain_text(monkeypatch):
    import inspect

    from clhost.hookspecs import SGDUpdateHooks

    monkeypatch.setenv("COLUMNS", "80")
    output = invoke("hooks").output
    assert "``" not in output and ":class:" not in output and ":meth:" not in output
    assert max(len(line) for line in output.splitlines() if line.startswith("      ")) < 80
    # the last words of a multi-paragraph description are there, markup removed
    whole = inspect.getdoc(SGDUpdateHooks.clhost_loss_terms)
    assert whole.rstrip(".").endswith("logged")
    assert "strategy.loss_terms[name] so it can be logged." in " ".join(output.split())


def test_firing_order_covers_every_hook():
    assert sorted(FIRING_ORDER) == sorted(hook_names())


def test_each_group_lists_its_hooks_in_firing_order():
    for group in HOOK_GROUPS:
        names = hook_names(group)
        assert names == sorted(names, key=FIRING_ORDER.index), group.__name__


def test_the_hook_reference_names_the_templates_registering_each_group():
    from clhost._hookdoc import templates_firing

    assert templates_firing(BaseTemplateHooks) == "every template"
    assert templates_firing(MetaLearningHooks) == (
        "SupervisedMetaLearningTemplate, OnlineMetaLearningTemplate"
    )


def test_check_passes_conforming_plugins(site, monkeypatch):
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-parts")
    result = invoke("check")
    assert result.exit_code == 0, result.output
    assert "entry points checked: all keep the plugin contract" in result.output


def test_check_reports_each_failure_in_a_table(site, monkeypatch):
    make_distribution(
        site,
        "fake-bad",
        {
            "clhost.plugins": {
                name: f"{BAD}:{cls}"
                for name, cls in [
                    ("misspelled", "Misspelled"),
                    ("unmarked", "Unmarked"),
                    ("no-hooks", "NoHooks"),
                    ("unannotated", "Unannotated"),
                    ("undocumented", "Undocumented"),
                ]
            },
            "clhost.strategies": {
                "not-a-strategy": f"{BAD}:NotAStrategy",
                "clash": f"{BAD}:Clashing",
                "no-default": f"{BAD}:NoDefault",
            },
            "clhost.buffers": {"not-a-buffer": f"{BAD}:NotABuffer"},
        },
        {BAD: BAD_SOURCE},
    )
    make_distribution(
        site, "fake-rival", {"clhost.buffers": {"list-buffer": f"{PARTS}:ListBuffer"}}
    )
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-parts,fake-broken,fake-bad,fake-rival")
    result = invoke("check")
    assert result.exit_code == 1
    rows = {tuple(line.split()[:2]): line for line in result.output.splitlines()[1:]}
    expected = {
        ("plugin", "broken"): "does not load: ImportError: needs a library",
        ("plugin", "misspelled"): "implements unknown hook clhost_after_trainig_exp",
        ("plugin", "unmarked"): "method clhost_after_training_exp is not marked",
        ("plugin", "no-hooks"): "implements no hook",
        ("plugin", "unannotated"): "parameter 'strength' has no annotation",
        ("plugin", "undocumented"): "has no docstring",
        ("strategy", "not-a-strategy"): "is not a subclass of BaseTemplate",
        (
            "strategy",
            "clash",
        ): "cannot be built: plugin Meta implements clhost_before_inner_updates",
        ("buffer", "not-a-buffer"): "is not a subclass of ExemplarsBuffer",
        ("strategy", "no-default"): "parameter 'lam' has no default",
        ("buffer", "list-buffer"): "name registered by two distributions",
    }
    for key, problem in expected.items():
        assert problem in rows[key], (key, result.output)
    assert "fake-parts" in rows[("buffer", "list-buffer")]
    assert "fake-rival" in rows[("buffer", "list-buffer")]
    conforming = [("strategy", "anchor"), ("strategy", "repeating"), ("plugin", "anchor")]
    assert not set(conforming) & set(rows)
    assert result.output.splitlines()[0].split() == ["KIND", "NAME", "DISTRIBUTION", "PROBLEM"]
    assert result.output.strip().endswith("Error: 11 problem(s) in 18 entry points")


LAYOUT_SOURCE = '''
import clhost
from clhost.plugin import SupervisedPlugin


class Flat(SupervisedPlugin):
    """A plugin defined outside plugin.py, with no declared state key."""

    @clhost.hookimpl
    def clhost_after_training_exp(self, strategy):
        pass


class Keyed(Flat):
    """Declares a key that is not its entry-point name."""

    state_key = "other-name"
'''


def test_check_holds_clhost_distributions_to_the_layout_and_declared_keys(site, monkeypatch):
    make_distribution(
        site,
        "clhost-fake-layout",
        {"clhost.plugins": {"flat": "fakecli_layout:Flat", "keyed": "fakecli_layout:Keyed"}},
        {"fakecli_layout": LAYOUT_SOURCE},
    )
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, "clhost-fake-layout")
    result = invoke("check")
    assert result.exit_code == 1
    assert "is defined in fakecli_layout, not in the plugin.py module" in result.output
    assert "declares no state_key (give it the entry-point name, 'flat')" in result.output
    assert "state_key 'other-name' is not its entry-point name 'keyed'" in result.output
