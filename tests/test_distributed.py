"""Distributed training on 2 gloo processes (CPU): evaluation, sharding, refusal, timeouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch
from torch import nn

from clhost import distributed
from clhost.benchmarks import split_digits
from clhost.data import TensorBatchLoader, TensorData
from clhost.errors import CheckpointError, PluginCompositionError
from clhost.models import SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import OnlineMetaLearningTemplate, SupervisedTemplate
from clhost.testing import on_ranks


def naive(seed: int = 0, *, train: bool = True, even: bool = False, **options) -> dict:
    """A seeded naive run on split digits: per-experience accuracy and loss after each.
    ``even``: 256 samples per experience, so every minibatch splits evenly over 2 ranks."""
    torch.manual_seed(seed)
    benchmark = split_digits(5, seed=seed)
    train_stream = list(benchmark.train_stream)
    if even:
        train_stream = [replace(e, dataset=e.dataset.subset(range(256))) for e in train_stream]
    model = SimpleMLP(input_size=64, hidden_sizes=(32,))
    strategy = SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        train_mb_size=options.pop("train_mb_size", 32),
        eval_mb_size=37,  # uneven batches: ranks are dealt different numbers
        train_epochs=2,
        **options,
    )
    rows = []
    for experience in train_stream if train else []:
        strategy.train(experience)
        rows.append(strategy.eval(benchmark.test_stream))
    if not train:
        rows.append(strategy.eval(benchmark.test_stream))
    return {
        "per_exp": [result.per_experience for result in rows],
        "metrics": [result.metrics for result in rows],
        "weights": {k: v.clone() for k, v in model.state_dict().items()},
    }


def _without_seconds(metrics: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "seconds"} for m in metrics]


def test_all_reduced_evaluation_equals_the_single_process_one_exactly(tmp_path):
    single = naive(train=False)
    ranks = on_ranks(naive, 0, tmp_path=tmp_path, train=False)
    for result in ranks:
        assert result["per_exp"] == single["per_exp"]
        assert _without_seconds(result["metrics"]) == _without_seconds(single["metrics"])
    assert single["metrics"][0]["samples"] == sum(
        len(e.dataset) for e in split_digits(5).test_stream
    )


def test_two_ranks_train_like_one_when_every_minibatch_splits_evenly(tmp_path):
    """Rank 0 draws the permutation the single process draws and each rank takes half of
    every global minibatch, so DDP's averaged gradient is the single process's."""
    single = naive(seed=1, even=True)
    first, second = on_ranks(naive, 1, even=True, tmp_path=tmp_path)
    for name, weight in first["weights"].items():
        assert torch.equal(weight, second["weights"][name]), name  # ranks agree exactly
        torch.testing.assert_close(weight, single["weights"][name], atol=1e-5, rtol=1e-4)
    assert first["per_exp"] == second["per_exp"]


def test_two_ranks_reach_the_accuracy_of_one(tmp_path):
    """Uneven last minibatches are averaged per rank (as DDP does): close, not equal."""
    single = naive(seed=2)
    ranks = on_ranks(naive, 2, tmp_path=tmp_path)
    accuracy = [m["accuracy"] for m in ranks[0]["metrics"]]
    assert accuracy == [m["accuracy"] for m in ranks[1]["metrics"]]
    assert accuracy == pytest.approx([m["accuracy"] for m in single["metrics"]], abs=0.02)


def shards(n: int, batch_size: int) -> dict:
    """This rank's minibatches of a shuffled and an unshuffled loader over 0..n-1."""
    torch.manual_seed(distributed.rank())  # rank 0's permutation must win anyway
    data = TensorData(torch.arange(n).float(), torch.arange(n))
    shuffled = [batch[1].tolist() for batch in TensorBatchLoader(data, batch_size, shuffle=True)]
    dealt = TensorBatchLoader(data, batch_size, shuffle=False, shard=True)
    whole = TensorBatchLoader(data, batch_size, shuffle=False)
    return {
        "shuffled": shuffled,
        "dealt": [batch[1].tolist() for batch in dealt],
        "whole": [batch[1].tolist() for batch in whole],
    }


def test_loaders_shard_each_global_minibatch_and_deal_evaluation_batches(tmp_path):
    first, second = on_ranks(shards, 23, 8, tmp_path=tmp_path)
    assert len(first["shuffled"]) == len(second["shuffled"]) == 3  # same number of steps
    for mine, theirs in zip(first["shuffled"], second["shuffled"], strict=True):
        assert not set(mine) & set(theirs)
        assert abs(len(mine) - len(theirs)) <= 1
    covered = sorted(i for part in first["shuffled"] + second["shuffled"] for i in part)
    assert covered == list(range(23))
    assert first["dealt"] == [list(range(0, 8)), list(range(16, 23))]
    assert second["dealt"] == [list(range(8, 16))]
    assert (
        first["whole"]
        == second["whole"]
        == [list(range(0, 8)), list(range(8, 16)), list(range(16, 23))]
    )


class Undeclared(SupervisedPlugin):
    """Says nothing about its state across ranks."""


class Refused(SupervisedPlugin):
    distributed = distributed.UNSUPPORTED
    distributed_reason = "it keeps a per-process cache"


class OwnForward(SupervisedTemplate):
    """Replaces the forward the template runs through DDP."""

    def forward(self):
        return self.model(self.mb_x)


def refusals() -> list[str]:
    messages = []
    builds = [
        (SupervisedTemplate, {"plugins": [Undeclared()]}),
        (SupervisedTemplate, {"plugins": [Refused()]}),
        (OwnForward, {}),
        (OnlineMetaLearningTemplate, {}),
    ]
    for template, options in builds:
        model = nn.Linear(4, 2)
        try:
            template(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **options)
        except PluginCompositionError as error:
            messages.append(str(error))
    return messages


def test_undeclared_and_unsupported_components_are_refused_under_ddp_only(tmp_path):
    assert refusals() == []  # one process: no process group, nothing refused
    undeclared, refused, own_forward, meta = on_ranks(refusals, tmp_path=tmp_path)[0]
    assert "Undeclared" in undeclared and "does not declare" in undeclared
    assert "Refused" in refused and "per-process cache" in refused
    assert own_forward.startswith("strategy OwnForward is not supported")
    assert "replaces forward without declaring" in own_forward
    assert "outside DistributedDataParallel" in meta


def stall_one_rank() -> str:
    """Rank 1 never joins the all-reduce; rank 0 must fail with one clear error."""
    if distributed.rank() == 1:
        time.sleep(4)
        return ""
    try:
        distributed.all_reduce_sum(torch.ones(1))
    except distributed.DistributedError as error:
        return str(error)
    return "no error"


def test_a_rank_that_stops_calling_collectives_fails_the_others_after_the_timeout(tmp_path):
    message = on_ranks(stall_one_rank, tmp_path=tmp_path, timeout=2.0, in_step=False)[0]
    assert message.startswith("rank 0 of 2: all_reduce failed")
    assert "another rank" in message


def test_torchrun_runs_the_cli_on_two_processes_and_rank_0_writes_once(tmp_path):
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run(
        [sys.executable, "-m", "clhost", "run", "-q", "--output", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert single.returncode == 0, single.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command = [*torchrun, "--nproc-per-node", "2", "-m", "clhost", "run", "-q"]
    two = subprocess.run(
        [*command, "--output", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=180,
    )
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("Average accuracy") == 1  # printed by rank 0 only
    one, both = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert both["average_accuracy"] == pytest.approx(one["average_accuracy"], abs=0.02)
    assert (tmp_path / "two" / "checkpoint.pt").exists()
    assert not list((tmp_path / "two").glob(".*.tmp"))


class Sharded(SupervisedPlugin):
    distributed = distributed.SHARDED


def test_sharded_states_resume_only_with_the_number_of_processes_that_saved_them():
    saved = {"sharded": {distributed.SHARDS: [{"part": 0}, {"part": 1}]}, "other": {"n": 1}}
    with pytest.raises(CheckpointError, match="saved by 2 process.*resume it with 2, not 1"):
        distributed.own_shards(saved, {"sharded": Sharded(), "other": object()})
    plain = {"sharded": {"part": 0}}
    assert distributed.own_shards(plain, {"sharded": Sharded()}) == plain
