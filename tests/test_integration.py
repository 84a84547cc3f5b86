"""Distributions working together: composition, exclusive slots, broken plugins, conformance.

These tests use the installed first-party distributions as a user would: several plugins
from different distributions in one strategy, the CLI over everything installed, and a
broken third-party distribution installed next to them.
"""

from __future__ import annotations

import sys
from collections import Counter

import pytest
import torch
from _fake_distributions import make_distribution
from click.testing import CliRunner

from clhost import hookimpl, registry
from clhost.benchmarks import split_digits
from clhost.cli import main
from clhost.errors import PluginCompositionError, PluginLoadError
from clhost.models import SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost_bic import BiCPlugin
from clhost_early_stopping import EarlyStoppingPlugin
from clhost_ewc import EWCPlugin
from clhost_lr_scheduler import LRSchedulerPlugin
from clhost_replay import ReplayPlugin

DIGITS = split_digits(n_experiences=5, seed=0)
TRAIN, TEST = DIGITS.train_stream[:3], DIGITS.test_stream[:3]
LR, GAMMA = 0.1, 0.5
BATCH, BATCH_MEM, MEM_SIZE = 16, 8, 64  # memory minibatches cycle with no remainder
MAX_EPOCHS = 20


class Probe(SupervisedPlugin):
    """Records, per experience: minibatch sizes and how many samples of earlier
    experiences' classes each holds, the loss terms added, and each epoch's learning rate."""

    def __init__(self):
        self.sizes, self.old_counts, self.terms, self.lrs = [], [], [], []

    @hookimpl
    def clhost_before_training_exp(self, strategy):
        for record in (self.sizes, self.old_counts, self.terms, self.lrs):
            record.append([])

    @hookimpl
    def clhost_before_training_epoch(self, strategy):
        self.lrs[-1].append(strategy.optimizer.param_groups[0]["lr"])

    @hookimpl
    def clhost_before_backward(self, strategy):
        old = list(strategy.experience.previous_classes)
        self.sizes[-1].append(len(strategy.mb_y))
        self.old_counts[-1].append(int(torch.isin(strategy.mb_y, torch.tensor(old)).sum()))
        self.terms[-1].append(
            {name: float(term.detach()) for name, term in strategy.loss_terms.items()}
        )


def composed(order: list[str], probe: Probe | None = None) -> SupervisedTemplate:
    """Replay, EWC, a step LR schedule and early stopping on the test stream, in ``order``."""
    torch.manual_seed(0)
    model = SimpleMLP(DIGITS.n_classes, 64, (32,))
    plugins = {
        "replay": ReplayPlugin(mem_size=MEM_SIZE, batch_size=BATCH, batch_size_mem=BATCH_MEM),
        "ewc": EWCPlugin(ewc_lambda=100.0),
        "lr": LRSchedulerPlugin("step", step_size=1, gamma=GAMMA),
        "stop": EarlyStoppingPlugin(patience=1, val_stream_name="test"),
    }
    return SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=LR),
        train_mb_size=BATCH,
        train_epochs=MAX_EPOCHS,
        eval_every=1,
        plugins=[plugins[name] for name in order] + ([probe] if probe else []),
    )


@pytest.fixture(scope="module")
def trained():
    """The composition in the user's order, trained on three Split Digits experiences."""
    probe = Probe()
    strategy = composed(["replay", "ewc", "lr", "stop"], probe)
    epochs = []
    for index, experience in enumerate(TRAIN):
        epochs.append(strategy.train(experience, eval_streams=[TEST[: index + 1]]).epochs)
    return strategy, probe, epochs


def test_plugins_are_called_in_the_users_order_then_the_evaluator(trained):
    strategy, probe, _ = trained
    users = strategy.plugins
    for hook in strategy.hooks.call_order():
        called = strategy.hooks.implementers(hook)
        host = [p for p in called if p not in users]  # the evaluator and the clock come last
        assert called == [p for p in users if p in called] + host, hook
    replay, ewc, lr, stop = users[:4]
    assert strategy.hooks.implementers("clhost_after_training_exp")[:4] == [replay, ewc, lr, stop]
    reverse = composed(["stop", "lr", "ewc", "replay"])
    assert [type(p) for p in reverse.hooks.implementers("clhost_after_training_exp")[:4]] == [
        EarlyStoppingPlugin,
        LRSchedulerPlugin,
        EWCPlugin,
        ReplayPlugin,
    ]


def test_replay_joins_memory_samples_to_each_minibatch(trained):
    strategy, probe, epochs = trained
    for index, experience in enumerate(TRAIN):
        size = len(experience.dataset)
        current = [BATCH] * (size // BATCH) + ([size % BATCH] if size % BATCH else [])
        memory = BATCH_MEM if index > 0 else 0
        assert Counter(probe.sizes[index]) == Counter(
            [part + memory for part in current] * epochs[index]
        )
        assert set(probe.old_counts[index]) == {memory}, "the memory part, every minibatch"
    assert len(strategy.plugins[0].storage_policy) == MEM_SIZE


def test_ewc_adds_its_term_once_an_experience_is_consolidated(trained):
    _, probe, _ = trained
    assert all("ewc" not in terms for terms in probe.terms[0])
    for experience in probe.terms[1:]:
        assert all(terms["ewc"] >= 0.0 for terms in experience)
        assert max(terms["ewc"] for terms in experience) > 0.0


def test_the_schedule_restarts_with_every_experience(trained):
    strategy, probe, _ = trained
    for lrs in probe.lrs:
        assert lrs == pytest.approx([LR * GAMMA**epoch for epoch in range(len(lrs))])
    assert strategy.optimizer.param_groups[0]["lr"] == pytest.approx(LR)


def test_early_stopping_ends_every_experience_before_its_epochs(trained):
    strategy, probe, epochs = trained
    assert all(count < MAX_EPOCHS for count in epochs), epochs
    assert strategy.plugins[3].stopped_at is not None


def test_call_order_decides_which_weights_ewc_anchors_to():
    """EWC anchors at the weights of its own ``after_training_exp``: listed before early
    stopping it sees the last epoch's weights, listed after it the restored best ones."""

    def anchors_and_final_weights(order):
        strategy = composed(order)
        strategy.train(TRAIN[0], eval_streams=[TEST[:1]])
        ewc = next(p for p in strategy.plugins if isinstance(p, EWCPlugin))
        anchored = ewc.saved_params[max(ewc.saved_params)]
        final = dict(strategy.model.named_parameters())
        return [torch.equal(anchored[name], final[name]) for name in anchored]

    assert all(anchors_and_final_weights(["replay", "stop", "lr", "ewc"]))
    assert not all(anchors_and_final_weights(["replay", "ewc", "lr", "stop"]))


# -- exclusive slots ----------------------------------------------------------------------


@pytest.mark.parametrize("first_replay", [True, False])
def test_two_dataloader_replacers_are_rejected_naming_both(first_replay):
    model = SimpleMLP(10, 64, (32,))
    plugins = [ReplayPlugin(), BiCPlugin()]
    with pytest.raises(PluginCompositionError) as caught:
        SupervisedTemplate(
            model=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            plugins=plugins if first_replay else plugins[::-1],
        )
    message = str(caught.value)
    assert "ReplayPlugin" in message and "BiCPlugin" in message
    assert "clhost_train_dataloader" in message


def test_the_cli_rejects_two_dataloader_replacers_before_training():
    result = CliRunner().invoke(main, ["run", "--strategy", "replay", "--plugin", "bic", "-q"])
    assert result.exit_code != 0
    assert "ReplayPlugin and BiCPlugin both implement clhost_train_dataloader" in result.output
    assert "Traceback" not in result.output and "Accuracy" not in result.output


# -- a broken distribution next to the real ones -------------------------------------------

BROKEN = "fakeintegration_broken"


@pytest.fixture
def broken_distribution(tmp_path, monkeypatch):
    """A third-party distribution whose module cannot be imported, installed next to every
    first-party one (no allow-list)."""
    make_distribution(
        tmp_path,
        "fake-broken-methods",
        {
            "clhost.strategies": {"broken-method": f"{BROKEN}:BrokenMethod"},
            "clhost.plugins": {"broken-method": f"{BROKEN}:BrokenMethodPlugin"},
        },
        {BROKEN: "raise ImportError('needs a library that is not installed')\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(registry.ALLOW_LIST_VARIABLE, raising=False)
    monkeypatch.delenv(registry.NO_AUTOLOAD_VARIABLE, raising=False)
    yield
    sys.modules.pop(BROKEN, None)


def test_clhost_list_shows_the_broken_distribution_among_the_others(broken_distribution):
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    assert ["broken-method", "fake-broken-methods", "1.0"] in [row[:3] for row in rows]
    assert ["replay", "clhost-replay", "0.1.0"] in [row[:3] for row in rows]


def test_other_strategies_and_plugins_still_run(broken_distribution):
    args = ["run", "--strategy", "replay", "--plugin", "ewc:ewc_lambda=10", "--epochs", "1"]
    args += ["--benchmark", "split-digits:n_experiences=2", "--device", "cpu", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Accuracy R[i][j]" in result.output
    with pytest.raises(PluginLoadError, match="fake-broken-methods"):
        registry.load("plugin", "broken-method")
    for name in ("replay", "ewc", "lr-scheduler", "early-stopping"):
        assert registry.load("plugin", name) is not None


def test_running_the_broken_strategy_is_one_clear_error(broken_distribution):
    result = CliRunner().invoke(main, ["run", "--strategy", "broken-method", "-q"])
    assert result.exit_code != 0
    assert "fake-broken-methods" in result.output
    assert "needs a library that is not installed" in result.output
    assert "Traceback" not in result.output


# -- conformance ---------------------------------------------------------------------------

FIRST_PARTY = sorted(
    {
        entry.distribution
        for entry in registry.scan().entries
        if registry.normalize_distribution(entry.distribution).startswith("clhost")
    }
)


@pytest.mark.parametrize("distribution", FIRST_PARTY)
def test_clhost_check_passes_on_each_first_party_distribution(distribution, monkeypatch):
    monkeypatch.setenv(registry.ALLOW_LIST_VARIABLE, distribution)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "all keep the plugin contract" in result.output
