"""More first-party methods on 2 gloo processes: each reaches the accuracy of one process
with the same global minibatch, and both ranks end with the same state. Experiences of
256 samples split every minibatch evenly over the ranks, so a 2-rank run follows the
1-process run up to rounding (an uneven last minibatch is averaged per rank, which
sends a chaotic method such as ER-ACE down another path). Several methods share one
launch of the two processes (a launch costs seconds)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from clhost import distributed
from clhost.benchmarks import split_digits, split_online
from clhost.data import Benchmark, Stream
from clhost.experiment import run_experiment
from clhost.models import SimpleMLP
from clhost.registry import list_entries, load
from clhost.templates import OnlineSupervisedTemplate
from clhost.testing import _assert_same_state as assert_same_state
from clhost.testing import on_ranks

METHODS = [
    *("gem", "er-ace", "mir", "gss-greedy", "gdumb", "rar", "bic", "ar1", "lfl", "cwr-star"),
    *("pnn", "simplecil"),
    *("ranpac", "cumulative", "from-scratch", "joint", "lr-scheduler", "early-stopping"),
    *("online-er-ace", "l2p", "dualprompt", "coda-prompt"),
]
PROMPTS = {  # small prompt pools on a tiny random ViT (the settings of their own tests)
    "l2p": {"pool_size": 10, "prompt_length": 4, "top_k": 3},
    "dualprompt": {"pool_size": 3, "g_prompt_layer_idx": (0,), "e_prompt_layer_idx": (1,)},
    "coda-prompt": {"pool_size": 6, "n_tasks": 3, "prompt_layer_idx": (0, 1)},
}
OPTIONS: dict[str, dict[str, Any]] = {
    "gem": {"patterns_per_exp": 64},
    "er-ace": {"mem_size": 100, "batch_size_mem": 16},
    "mir": {"mem_size": 100, "batch_size_mem": 16, "subsample": 32},
    "gss-greedy": {"mem_size": 100, "batch_size_mem": 16},
    "gdumb": {"mem_size": 100},
    "rar": {"mem_size": 100, "batch_size_mem": 16},
    "bic": {"mem_size": 100, "stage_2_epochs": 5},
    "ar1": {"lr": 0.1, "inc_lr": 0.05, "rm_sz": 100, "latent_layer_num": 1},
    "ranpac": {"projection_size": 128, "ridge": 1.0, "adapt_epochs": 2},
}
MEMORY = {  # where each rehearsal method keeps its samples: (state key, part)
    "gem": ("gem", "memories"),
    "er-ace": ("er-ace", "buffer"),
    "mir": ("mir", "buffer"),
    "online-er-ace": ("er-ace", "buffer"),
    "gdumb": ("gdumb", "buffer"),
    "rar": ("rar", "buffer"),
    "bic": ("bic", "buffer"),
}
TOLERANCE = 0.02  # one seed: paths that differ by rounding
CLOSE = {"atol": 1e-2, "rtol": 1e-3}  # RAR pairs with neighbours in its own part of the
# minibatch, AR1 splits an odd number of current samples: their paths differ a little


def build(method: str, seed: int) -> Any:
    """``method`` with a small MLP on split digits (a frozen random one for the methods on
    a frozen backbone), seeded; ``lr-scheduler``, ``early-stopping``: naive with a
    plateau schedule, or stopping on the test stream; ``online-er-ace``: the online
    template with ER-ACE; the prompt methods on a tiny random ViT."""
    torch.manual_seed(seed)
    options = {"train_mb_size": 32, "train_epochs": 1, "eval_mb_size": 50}
    if method in PROMPTS:
        from clhost_pretrained.testing import tiny_vit

        options.update(train_mb_size=16, num_classes=6, lr=0.01, **PROMPTS[method])
        return load("strategies", method)(model=tiny_vit(), **options)
    if method in ("simplecil", "ranpac"):
        backbone = nn.Sequential(nn.Linear(64, 64), nn.ReLU())
        return load("strategies", method)(model=backbone, **OPTIONS.get(method, {}), **options)
    if method == "ar1":
        layers = (nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
        return load("strategies", "ar1")(model=nn.Sequential(*layers), **OPTIONS["ar1"], **options)
    if method == "pnn":
        from clhost_pnn import PNN

        model: nn.Module = PNN(num_layers=2, in_features=64, hidden_features_per_column=16)
    else:
        model = SimpleMLP(input_size=64, hidden_sizes=(32,))
    options.update(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    if method == "online-er-ace":
        from clhost_er_ace import ERACEPlugin

        options.pop("train_epochs")
        plugin = ERACEPlugin(**OPTIONS["er-ace"])
        return OnlineSupervisedTemplate(plugins=[plugin], **{**options, "train_mb_size": 16})
    if method == "lr-scheduler":
        plugin = load("plugins", "lr-scheduler")("plateau", metric="train_loss", patience=0)
        return load("strategies", "naive")(plugins=[plugin], **options)
    if method == "early-stopping":
        plugin = load("plugins", "early-stopping")(patience=1, val_stream_name="test")
        options.update(train_epochs=4, eval_every=1)
        return load("strategies", "naive")(plugins=[plugin], **options)
    return load("strategies", method)(**OPTIONS.get(method, {}), **options)


def even(method: str, seed: int) -> Benchmark:
    """Split digits with 256 training samples per experience (both classes balanced), task
    labels for PNN; 3 experiences of 80 texture images for the prompt methods."""
    if method in PROMPTS:
        from clhost_pretrained.testing import texture_stream

        return texture_stream(seed=seed + 1)  # seed 0's classes are the pretraining ones
    benchmark = split_digits(5, seed=seed, task_labels=method == "pnn")
    train = [replace(e, dataset=e.dataset.subset(range(256))) for e in benchmark.train_stream]
    return replace(benchmark, train_stream=Stream("train", train))


def runs(methods: list[str], seed: int = 0) -> dict[str, dict]:
    """Each method's average accuracy after 5 experiences and its final state (the
    plugins' and the model's)."""
    out = {}
    for method in methods:
        strategy, benchmark = build(method, seed), even(method, seed)
        if isinstance(strategy, OnlineSupervisedTemplate):
            for experience in benchmark.train_stream:  # pieces of 32: two minibatches
                strategy.train(split_online(Stream("train", [experience]), 32))
            accuracy = strategy.eval(benchmark.test_stream).metrics["accuracy"]
        else:
            streams = [benchmark.test_stream] if method == "early-stopping" else []
            run = run_experiment(
                strategy, benchmark, eval_before_training=False, eval_streams=streams
            )
            accuracy = run.average_accuracy
        states = strategy.stateful_components()
        out[method] = {
            "accuracy": accuracy,
            "plugins": {k: c.state_dict() for k, c in states.items() if k != "evaluator"},
            "model": strategy.model.state_dict(),
        }
    return out


def test_two_ranks_reach_the_accuracy_of_one_and_hold_the_same_state(tmp_path):
    """Both ranks end with the same state, rehearsal memories holding the samples one
    process keeps, and weights that differ from one process's by rounding."""
    single = runs(METHODS)
    first, second = on_ranks(runs, METHODS, tmp_path=tmp_path, timeout=60)
    for method in METHODS:
        assert first[method]["accuracy"] == second[method]["accuracy"], method
        assert_same_state(first[method]["plugins"], second[method]["plugins"], method)
        assert_same_state(first[method]["model"], second[method]["model"], method)
        if method in MEMORY:  # the very samples one process keeps
            key, part = MEMORY[method]
            memories = [run[method]["plugins"][key][part] for run in (single, first)]
            assert_same_state(*memories, f"{method}: one process vs 2 ranks")
        one, two = single[method]["accuracy"], first[method]["accuracy"]
        assert two == pytest.approx(one, abs=TOLERANCE), method
        for name, weight in single[method]["model"].items():  # the same path as one process
            actual, expected = first[method]["model"][name].double(), weight.double()
            where = f"{method} {name}"
            torch.testing.assert_close(
                actual, expected, **CLOSE, msg=lambda m, at=where: f"{at}: {m}"
            )


def test_every_first_party_strategy_and_plugin_is_supported_or_refused_with_a_reason():
    """The refusal under DDP names the reason: no first-party method is refused for
    declaring nothing."""
    plugins = Path(__file__).parents[1] / "plugins"
    for entry in [*list_entries("strategy"), *list_entries("plugin")]:
        if not (plugins / entry.distribution).is_dir():
            continue  # not first-party (a test's fake distribution)
        component = entry.load()
        declared = getattr(component, "distributed", None)
        if isinstance(declared, property):  # decided by the options (DER's memory)
            continue
        assert declared in distributed.POLICIES, entry.label
        if declared == distributed.UNSUPPORTED:
            assert getattr(component, "distributed_reason", None), entry.label


def test_a_prompt_pool_voting_over_the_minibatch_is_refused_across_ranks():
    from clhost_pretrained.testing import tiny_vit

    def l2p(batchwise: bool) -> Any:
        options = {"num_classes": 6, **PROMPTS["l2p"], "batchwise_prompt": batchwise}
        return load("strategies", "l2p")(model=tiny_vit(), **options)

    assert distributed.policy_of(l2p(False)) == distributed.REPLICATED
    voting = l2p(True)
    assert distributed.policy_of(voting) == distributed.UNSUPPORTED
    assert "vote" in type(voting).distributed_reason
