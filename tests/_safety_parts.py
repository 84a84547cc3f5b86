"""A fake distribution and CLI helpers shared by the run-safety tests: a stateful plugin
with a parameter, a template with a parameter, a loss; only they and the host are visible.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

import pytest
from _fake_distributions import make_distribution
from click.testing import CliRunner

from clhost import registry
from clhost.cli import main

PARTS = "fakesafety_parts"
SOURCE = '''
import torch

import clhost
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate


class Anchor(SupervisedPlugin):
    """Pulls the weights towards where the last experience left them."""

    def __init__(self, strength: float = 0.5):
        self.strength = strength
        self.anchor = {}

    @clhost.hookimpl
    def clhost_loss_terms(self, strategy):
        if not self.anchor:
            return None
        params = dict(strategy.model.named_parameters())  # heads may have grown since
        pairs = [(params[n], a) for n, a in self.anchor.items() if params[n].shape == a.shape]
        penalty = sum(((p - a) ** 2).sum() for p, a in pairs)
        return ("anchor", self.strength * penalty)

    @clhost.hookimpl
    def clhost_after_training_exp(self, strategy):
        self.anchor = {n: p.detach().clone() for n, p in strategy.model.named_parameters()}

    def state_dict(self):
        return {"anchor": dict(self.anchor)}

    def load_state_dict(self, state):
        self.anchor = dict(state["anchor"])


class Scaled(SupervisedTemplate):
    """A template with a parameter of its own."""

    def __init__(self, *, alpha: float = 1.0, **kwargs):
        self.alpha = alpha
        super().__init__(**kwargs)


class Smoothed(torch.nn.Module):
    def __init__(self, smoothing: float = 0.1):
        super().__init__()
        self.loss = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)

    def forward(self, output, target):
        return self.loss(output, target)
'''
BASE = [
    "--strategy", "scaled", "--plugin", "anchor", "--model", "mlp:hidden_sizes=32",
    "--benchmark", "split-digits:n_experiences=2", "--epochs", "1", "--device", "cpu",
]  # fmt: skip


@contextmanager
def only_fake_distribution(site):
    """Only the host and the fake distribution (written into ``site``) are visible."""
    make_distribution(
        site,
        "fake-safety",
        {
            "clhost.strategies": {"scaled": f"{PARTS}:Scaled"},
            "clhost.plugins": {"anchor": f"{PARTS}:Anchor"},
            "clhost.losses": {"smoothed": f"{PARTS}:Smoothed"},
        },
        {PARTS: SOURCE},
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        patch.setenv(registry.ALLOW_LIST_VARIABLE, "fake-safety")
        yield site
    for module in [name for name in sys.modules if name.startswith("fakesafety_")]:
        del sys.modules[module]


@pytest.fixture(scope="module", autouse=True)
def fake_site(tmp_path_factory):
    """Imported by a test module: its tests see only the host and the fake distribution."""
    with only_fake_distribution(tmp_path_factory.mktemp("site")) as site:
        yield site


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [str(arg) for arg in args], **kwargs)


def contents(directory):
    """Every file under ``directory`` with its bytes: what "nothing changed" compares."""
    if not directory.exists():
        return None
    return {
        str(path.relative_to(directory)): path.read_bytes() if path.is_file() else None
        for path in sorted(directory.rglob("*"))
    }


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
