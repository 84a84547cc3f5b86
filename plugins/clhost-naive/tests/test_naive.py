"""Naive is the bare supervised template: same training, and it forgets."""

import functools
from pathlib import Path

import pytest
import torch

from clhost import testing as kit
from clhost.benchmarks import split_digits
from clhost.models import SimpleMLP
from clhost.templates import SupervisedTemplate
from clhost_naive import Naive

build = functools.partial(
    kit.seeded_strategy, model=lambda: SimpleMLP(10, 64, (64,)), train_epochs=5
)


@pytest.fixture(scope="module")
def benchmark():
    return split_digits(n_experiences=5, seed=0)


def test_naive_adds_no_plugin():
    strategy = build(Naive)
    assert strategy.plugins == []
    assert strategy.hooks.call_order()["clhost_after_training_exp"] == ["evaluator", "Clock"]


def test_naive_trains_exactly_like_the_supervised_template(benchmark):
    weights = []
    for cls in (Naive, SupervisedTemplate):
        strategy = build(cls)
        strategy.train(benchmark.train_stream[:2])
        weights.append(torch.cat([p.detach().flatten() for p in strategy.model.parameters()]))
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=0)


def test_naive_forgets_earlier_experiences_of_a_class_incremental_stream(benchmark):
    strategy = build(Naive)
    for experience in benchmark.train_stream:
        strategy.train(experience)
    accuracy = strategy.eval(benchmark.test_stream).per_experience
    assert accuracy[4]["accuracy"] > 0.9
    assert max(accuracy[i]["accuracy"] for i in range(4)) < 0.1


def test_naive_accepts_extra_plugins_and_lists_its_keywords():
    class Marker:
        name = "marker"

    strategy = build(Naive, plugins=[Marker()])
    assert [type(p).__name__ for p in strategy.plugins] == ["Marker"]
    with pytest.raises(TypeError, match="did you mean train_epochs"):
        build(Naive, train_epoch=3)


def test_readme_example_runs():
    kit.run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
