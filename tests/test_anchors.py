"""The accuracy gate (benchmarks/anchors.py): it passes on a strategy as it is and fails,
naming it, when a change breaks it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def anchors():
    spec = importlib.util.spec_from_file_location("anchors", BENCHMARKS / "anchors.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["anchors"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["anchors"]


@pytest.fixture
def replay_only(anchors, tmp_path):
    """anchors.toml cut to replay on Split Digits, so a check is one short run a seed."""
    replay = next(
        a for a in anchors.read() if (a.strategy, a.benchmark) == ("replay", "split-digits")
    )
    path = tmp_path / "anchors.toml"
    values = ", ".join(map(str, replay.values))
    path.write_text(
        f"seeds = {list(replay.seeds)}\nbenchmarks = ['split-digits']\n\n"
        f"[strategies.replay]\nsplit-digits = [{values}]\n"
    )
    return path


def test_every_strategy_has_its_anchors(anchors):
    from clhost import registry

    found = {(a.strategy, a.benchmark) for a in anchors.read()}
    strategies = {entry.name for entry in registry.list_entries("strategy")}
    missing = strategies - {strategy for strategy, _ in found}
    assert not missing, (
        f"no anchor for {sorted(missing)}: python benchmarks/anchors.py --measure "
        "--strategies NAME adds one"
    )
    # every strategy on Split Digits, and on Permuted Digits all but the slow ones
    assert all((s, "split-digits") in found for s in strategies)
    assert all((s, "permuted-digits") in found for s in strategies - set(anchors.SLOW))


def test_the_gate_passes_on_replay_as_it_is(anchors, replay_only, capsys):
    assert anchors.main(["--file", str(replay_only), "--seeds", "0"]) == 0
    assert capsys.readouterr().out.startswith("ok       replay")


def test_the_gate_fails_naming_a_strategy_a_change_broke(anchors, replay_only, capsys, monkeypatch):
    import clhost_replay.plugin

    # the change: the replay dataloader no longer mixes the memory in (replay = finetuning)
    monkeypatch.setattr(clhost_replay.plugin, "replay_dataloader", lambda strategy, plugin: None)
    assert anchors.main(["--file", str(replay_only), "--seeds", "0"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("FAIL     replay") and "below the band: replay on split-digits" in err


def test_a_run_without_a_final_accuracy_fails_naming_its_strategy(
    anchors, replay_only, capsys, monkeypatch
):
    import clhost.sweep

    def no_accuracy(runs, output, **keywords):
        rows = [{"run": r.name, "seed": r.seed, "final_accuracy": None} for r in runs]
        return clhost.sweep.SweepOutcome(rows, [], [r.name for r in runs], {})

    monkeypatch.setattr(clhost.sweep, "run_sweep", no_accuracy)
    assert anchors.main(["--file", str(replay_only), "--seeds", "0"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("FAIL     replay") and "below the band: replay on split-digits" in err


def test_the_band_is_the_mean_less_the_tolerance(anchors):
    steady = anchors.Anchor("x", "b", (0, 1, 2), (0.80, 0.80, 0.80), {})
    spread = anchors.Anchor("x", "b", (0, 1, 2), (0.70, 0.80, 0.90), {})
    assert steady.tolerance == anchors.MIN_TOLERANCE
    assert spread.tolerance == pytest.approx(0.1)  # the standard deviation over the seeds
    assert spread.expected([2]) == 0.90 and spread.expected([0, 1, 2]) == pytest.approx(0.8)
    verdict = anchors.Verdict(steady, 0.78, 0.80)
    assert not verdict.failed and verdict.low == pytest.approx(0.77)
    assert anchors.Verdict(steady, 0.70, 0.80).failed
    assert anchors.Verdict(steady, 0.85, 0.80).improved
