"""Checkpoints: what they hold, atomic writes, and clear errors for bad files."""

import errno
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

import clhost
from clhost._description import digest_of
from clhost.checkpoint import (
    FORMAT,
    VERSION,
    fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from clhost.errors import CheckpointError
from clhost.models import IncrementalMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost.testing import toy_benchmark

BENCHMARK = toy_benchmark(n_experiences=2, n_per_class=20)
UNPICKLED: list[str] = []


class Counter(SupervisedPlugin):
    """Counts iterations and sums the labels it saw: state as a number and a tensor."""

    state_key = "counter"

    def __init__(self):
        self.iterations = 0
        self.label_sum = torch.zeros(())

    @clhost.hookimpl
    def clhost_after_training_iteration(self, strategy):
        self.iterations += 1
        self.label_sum = self.label_sum + strategy.mb_y.sum()

    def state_dict(self):
        return {"iterations": self.iterations, "label_sum": self.label_sum.clone()}

    def load_state_dict(self, state):
        self.iterations = int(state["iterations"])
        self.label_sum = state["label_sum"].clone()


class Unsafe(SupervisedPlugin):
    """State that ``torch.load(weights_only=True)`` could not read back."""

    def state_dict(self):
        return {"data": np.zeros(3)}


class Evil:
    """Runs code when unpickled, if anything ever unpickles it."""

    def __reduce__(self):
        return (UNPICKLED.append, ("ran",))


class SubclassedTemplate(SupervisedTemplate):
    pass


def make_strategy(*, plugins=(), cls=SupervisedTemplate, criterion=None):
    torch.manual_seed(0)
    model = IncrementalMLP(input_size=8, hidden_sizes=(16,))
    return cls(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        criterion=criterion,
        train_mb_size=20,
        plugins=list(plugins),
    )


def trained(**kwargs):
    """A strategy after both experiences, with momentum and a grown classifier."""
    strategy = make_strategy(**kwargs)
    for experience in BENCHMARK.train_stream:
        strategy.train(experience)
        strategy.eval(BENCHMARK.test_stream)
    return strategy


def snapshot(strategy):
    return {
        "model": {k: v.clone() for k, v in strategy.model.state_dict().items()},
        "optimizer": repr(strategy.optimizer.state_dict()),
        "components": repr({k: c.state_dict() for k, c in strategy.stateful_components().items()}),
    }


def assert_same(a, b):
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    assert a["optimizer"] == b["optimizer"]
    assert a["components"] == b["components"]


def test_a_checkpoint_restores_everything_into_a_fresh_strategy(tmp_path):
    path = tmp_path / "checkpoint.pt"
    source = trained(plugins=[Counter()])
    save_checkpoint(source, path, 2, benchmark=BENCHMARK)
    expected_draws = (torch.rand(3), random.random(), np.random.rand())

    fresh = make_strategy(plugins=[Counter()])
    assert fresh.model.classifier.out_features == 2  # not grown yet
    torch.manual_seed(123)
    assert load_checkpoint(fresh, path, benchmark=BENCHMARK) == 2
    assert fresh.model.classifier.out_features == 4
    assert_same(snapshot(fresh), snapshot(source))
    assert fresh.plugins[0].iterations == 4 and fresh.plugins[0].label_sum > 0
    assert fresh.clock.train_exp_counter == 2
    assert fresh.evaluator.accuracy_matrix == source.evaluator.accuracy_matrix
    draws = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(draws[0], expected_draws[0]) and draws[1:] == expected_draws[1:]


def test_the_file_is_plain_data(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(trained(plugins=[Counter()]), path, 2, benchmark=BENCHMARK)
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT and payload["position"] == 2
    assert payload["fingerprint"] == {
        "strategy": "clhost.templates.supervised.SupervisedTemplate",
        "components": ["counter", "cross-entropy-loss", "evaluator", "clock"],
        "benchmark": "toy",
        "experiment": None,  # recorded by run_experiment (save_checkpoint(experiment=...))
    }
    assert set(payload["components"]) == {"counter", "cross-entropy-loss", "evaluator", "clock"}
    assert set(payload["rng"]) == {"python", "numpy", "torch", "cuda"}


def test_repeated_keys_are_numbered_in_plugin_order(tmp_path):
    path = tmp_path / "checkpoint.pt"
    first, second = Counter(), Counter()
    source = make_strategy(plugins=[first, second])
    assert list(source.stateful_components())[:2] == ["counter", "counter#2"]
    first.iterations, second.iterations = 3, 7
    save_checkpoint(source, path, 0)
    restored = make_strategy(plugins=[Counter(), Counter()])
    load_checkpoint(restored, path)
    assert [p.iterations for p in restored.plugins] == [3, 7]


class Tally(Counter):
    """A ``Counter`` whose state key was never declared (derived: ``tally``)."""

    state_key = None  # type: ignore[assignment]


def test_a_state_saved_before_its_key_was_declared_loads(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    source = make_strategy(plugins=[Tally(), Tally()])
    source.plugins[1].iterations = 5
    save_checkpoint(source, path, 0)
    assert "tally#2" in torch.load(path, weights_only=True)["components"]
    monkeypatch.setattr(Tally, "state_key", "renamed-tally")  # the key is declared later
    restored = make_strategy(plugins=[Tally(), Tally()])
    assert list(restored.stateful_components())[:2] == ["renamed-tally", "renamed-tally#2"]
    load_checkpoint(restored, path)
    assert [p.iterations for p in restored.plugins] == [0, 5]


def test_a_criterion_with_state_is_restored(tmp_path):
    path = tmp_path / "checkpoint.pt"
    source = make_strategy(criterion=nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0])))
    save_checkpoint(source, path, 0)
    restored = make_strategy(criterion=nn.CrossEntropyLoss(weight=torch.tensor([5.0, 5.0])))
    load_checkpoint(restored, path)
    assert torch.equal(restored._criterion.weight, torch.tensor([1.0, 2.0]))


# -- atomic writes ----------------------------------------------------------------------


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    strategy = trained()
    save_checkpoint(strategy, path, 2)
    before = path.read_bytes()

    def crash(payload, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(strategy, path, 3)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["checkpoint.pt"]  # no temporary file left behind
    monkeypatch.undo()
    assert load_checkpoint(make_strategy(), path, benchmark=BENCHMARK) == 2


def test_the_new_file_is_synced_before_it_replaces_the_old(tmp_path, monkeypatch):
    import clhost._atomic as atomic

    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(
        atomic.os, "replace", lambda a, b: calls.append("replace") or real_replace(a, b)
    )
    save_checkpoint(make_strategy(), tmp_path / "checkpoint.pt", 0)
    assert calls[:2] == ["fsync", "replace"]


def test_state_that_cannot_be_loaded_safely_is_refused_when_saving(tmp_path):
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(CheckpointError, match=r"state of 'unsafe'\['data'\] holds a ndarray"):
        save_checkpoint(make_strategy(plugins=[Unsafe()]), path, 0)
    assert not path.exists()


# -- bad files ----------------------------------------------------------------------------


def resealed(payload):
    """A payload edited on purpose, with the digest that makes it look intact."""
    return {**payload, "digest": digest_of({k: v for k, v in payload.items() if k != "digest"})}


def unchanged_after(strategy, error_match, path, **kwargs):
    before = snapshot(strategy)
    with pytest.raises(CheckpointError, match=error_match):
        load_checkpoint(strategy, path, **kwargs)
    assert_same(snapshot(strategy), before)


def test_truncated_and_garbage_files_are_errors(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(trained(), path, 2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    unchanged_after(make_strategy(), "not a readable checkpoint", path, benchmark=BENCHMARK)
    path.write_bytes(b"\x00garbage" * 100)
    unchanged_after(make_strategy(), "not a readable checkpoint", path, benchmark=BENCHMARK)
    unchanged_after(make_strategy(), "no checkpoint at", tmp_path / "missing.pt")


def test_a_flipped_byte_in_a_tensor_is_found(tmp_path):
    path = tmp_path / "checkpoint.pt"
    source = trained()
    save_checkpoint(source, path, 2)
    data = bytearray(path.read_bytes())
    weights = source.model.features[1].weight.detach().numpy().tobytes()
    at = data.find(weights[:16])  # the weights are stored raw: torch.load checks no CRC
    assert at > 0
    data[at + 1] ^= 0x40
    path.write_bytes(bytes(data))
    unchanged_after(make_strategy(), "is damaged: its contents do not match", path)


def test_pickled_objects_are_never_run(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": FORMAT, "version": 1, "model": Evil()}, path)
    unchanged_after(make_strategy(), "not plain data", path)
    assert UNPICKLED == []


def test_other_formats_and_versions_are_errors(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save(make_strategy().model.state_dict(), path)
    unchanged_after(make_strategy(), "is not a clhost checkpoint", path)
    save_checkpoint(make_strategy(), path, 0)
    payload = torch.load(path, weights_only=True)
    payload["version"] = 99
    torch.save(payload, path)
    unchanged_after(make_strategy(), "format version 99; this clhost reads version 2", path)
    del payload["rng"]
    payload["version"] = VERSION
    torch.save(payload, path)
    unchanged_after(make_strategy(), r"incomplete: missing \['rng'\]", path)


def test_a_checkpoint_of_another_experiment_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(trained(plugins=[Counter()]), path, 2, benchmark=BENCHMARK)
    unchanged_after(
        make_strategy(plugins=[Counter()], cls=SubclassedTemplate),
        "another experiment: strategy 'clhost.templates.supervised.SupervisedTemplate'",
        path,
    )
    unchanged_after(make_strategy(), "another experiment: components", path)
    other = toy_benchmark(n_experiences=2, n_per_class=20)
    other.name = "other"
    unchanged_after(
        make_strategy(plugins=[Counter()]),
        "benchmark 'toy' in the checkpoint, 'other' now",
        path,
        benchmark=other,
    )


def test_a_grown_model_needs_the_experiences_to_regrow(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(trained(), path, 2)
    unchanged_after(make_strategy(), "pass benchmark= or experiences=", path)
    unchanged_after(
        make_strategy(),
        "2 experiences were done but the stream has only 1",
        path,
        experiences=BENCHMARK.train_stream[:1],
    )
    fresh = make_strategy()
    assert load_checkpoint(fresh, path, experiences=list(BENCHMARK.train_stream)) == 2
    assert fresh.model.classifier.out_features == 4


def test_a_plugin_that_rejects_its_state_is_named(tmp_path):
    path = tmp_path / "checkpoint.pt"
    strategy = make_strategy(plugins=[Counter()])
    save_checkpoint(strategy, path, 0)
    payload = torch.load(path, weights_only=True)
    del payload["components"]["counter"]["label_sum"]
    torch.save(resealed(payload), path)
    with pytest.raises(CheckpointError, match="component 'counter' could not be restored"):
        load_checkpoint(make_strategy(plugins=[Counter()]), path)


def test_fingerprint_names_the_experiment():
    strategy = make_strategy(plugins=[Counter()])
    assert fingerprint(strategy)["benchmark"] is None
    assert fingerprint(strategy, BENCHMARK)["components"][0] == "counter"


def test_position_must_be_a_count(tmp_path):
    with pytest.raises(ValueError, match="position"):
        save_checkpoint(make_strategy(), tmp_path / "c.pt", -1)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="tells directories by /proc")
def test_a_directory_that_cannot_be_synced_still_gets_the_file(tmp_path, monkeypatch):
    import clhost._atomic as atomic

    real_fsync = os.fsync

    def fsync(descriptor):  # as some network file systems answer for a directory
        if os.path.isdir(f"/proc/self/fd/{descriptor}"):
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(descriptor)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    save_checkpoint(make_strategy(), tmp_path / "checkpoint.pt", 0)
    monkeypatch.undo()
    assert load_checkpoint(make_strategy(), tmp_path / "checkpoint.pt") == 0
