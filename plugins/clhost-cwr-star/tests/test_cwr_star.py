"""CWR*: consolidation follows the paper's formula on a hand-made example, the classifier
is found by name, the rest of the model is frozen from the second experience on, the
state restores a run exactly, and CWR* beats finetuning on class-incremental digits."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from clhost.benchmarks import split_digits
from clhost.cli import main
from clhost.data import TensorData
from clhost.errors import ParameterError
from clhost.models import IncrementalMLP, SimpleMLP
from clhost.testing import (
    assert_resumes,
    average_accuracy,
    run_readme_examples,
    state_round_trip,
    toy_benchmark,
)
from clhost_cwr_star import CWRStar, CWRStarPlugin, consolidate


def _step(plugin, model, targets, experience_index, trained_weight, trained_bias):
    """Run the plugin's hooks around an 'experience' that ends with the given weights."""
    strategy = SimpleNamespace(
        model=model,
        clock=SimpleNamespace(train_exp_counter=experience_index),
        adapted_dataset=TensorData(torch.zeros(len(targets), 3), torch.tensor(targets)),
    )
    plugin.clhost_before_training_exp(strategy)
    before = (model.weight.detach().clone(), model.bias.detach().clone())
    with torch.no_grad():
        model.weight.copy_(torch.tensor(trained_weight, dtype=torch.float32))
        model.bias.copy_(torch.tensor(trained_bias, dtype=torch.float32))
    plugin.clhost_after_training_exp(strategy)
    return before


def test_consolidation_follows_the_papers_formula_on_a_hand_made_example():
    layer = nn.Linear(3, 4)
    plugin = CWRStarPlugin(layer, freeze_remaining_model=False)
    other = [7.0, 7.0, 7.0]
    # experience 1: class 0 twice, class 1 once; the mean of the trained rows is 3
    weight, bias = _step(
        plugin, layer, [0, 0, 1], 0, [[1, 2, 3], [3, 4, 5], other, other], [0.5, 1.5, 9, 9]
    )
    assert torch.equal(weight, torch.zeros(4, 3)) and torch.equal(bias, torch.zeros(4))
    assert torch.allclose(layer.weight[:2], torch.tensor([[-2.0, -1, 0], [0, 1, 2]]))
    assert torch.allclose(layer.bias[:2], torch.tensor([-0.5, 0.5]))
    assert plugin.past_counts.tolist() == [2, 1, 0, 0]
    # experience 2: class 1 four times (seen once before), class 2 once (new)
    weight, bias = _step(
        plugin, layer, [1, 1, 1, 1, 2], 1, [other, [2, 2, 2], [4, 4, 4], other], [9, 1, 3, 9]
    )
    # only the current class seen before gets its consolidated weights back
    assert torch.allclose(weight, torch.tensor([[0.0, 0, 0], [0, 1, 2], [0, 0, 0], [0, 0, 0]]))
    assert torch.allclose(bias, torch.tensor([0.0, 0.5, 0, 0]))
    # class 1: w = sqrt(1 / 4) = 0.5; (cw * 0.5 + (tw - 3)) / 1.5
    expected = torch.tensor([[-2.0, -1, 0], [-2 / 3, -1 / 3, 0], [1, 1, 1], other])
    assert torch.allclose(layer.weight, expected)
    assert torch.allclose(layer.bias, torch.tensor([-0.5, (0.5 * 0.5 - 1) / 1.5, 1, 9]))
    assert plugin.past_counts.tolist() == [2, 5, 1, 0]


def test_consolidate_weights_past_counts():
    old, trained = torch.tensor([[4.0, 0.0]]), torch.tensor([[1.0, -1.0]])
    # nine samples before, one now: the old weights count three times as much
    result = consolidate(old, trained, torch.tensor([9.0]), torch.tensor([1.0]))
    assert torch.allclose(result, (old * 3 + trained) / 4)
    never_seen = consolidate(old, trained, torch.tensor([0.0]), torch.tensor([5.0]))
    assert torch.equal(never_seen, trained)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU())
        self.head = nn.Linear(16, 4)
        self.aux = nn.Linear(16, 2)  # registered last, but not the classifier

    def forward(self, x):
        return self.head(self.body(x))


def test_the_classifier_layer_is_found_by_name():
    model = TwoHeads()
    assert CWRStarPlugin(model, "head").cwr_layer(model) is model.head
    assert CWRStarPlugin(model).cwr_layer(model) is model.aux  # the last nn.Linear
    with pytest.raises(ParameterError, match="no Linear layer named 'heda'.*'head'"):
        CWRStarPlugin(model, "heda")
    with pytest.raises(ParameterError, match="no Linear layer named 'body'"):
        CWRStarPlugin(model, "body")
    grown = IncrementalMLP(8, (16,))
    assert CWRStarPlugin(grown).cwr_layer(grown) is grown.classifier.classifier


def _trained_twice(freeze):
    torch.manual_seed(0)
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2)
    model = TwoHeads()
    strategy = CWRStar(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        cwr_layer_name="head",
        train_mb_size=8,
        evaluator=None,
    )
    strategy.plugins[0].freeze_remaining_model = freeze
    strategy.train(benchmark.train_stream[0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    strategy.train(benchmark.train_stream[1])
    return model, before


def test_the_rest_of_the_model_is_frozen_after_the_first_experience():
    model, before = _trained_twice(freeze=True)
    after = model.state_dict()
    for name in ("body.0.weight", "body.1.weight", "body.1.running_mean", "body.1.running_var"):
        assert torch.equal(after[name], before[name]), name
    assert not any(p.requires_grad for p in model.body.parameters())
    assert not model.body.training and model.head.training
    assert not torch.equal(after["head.weight"], before["head.weight"])
    model, before = _trained_twice(freeze=False)
    assert not torch.equal(model.state_dict()["body.1.running_mean"], before["body.1.running_mean"])


def test_a_classifier_too_small_for_the_classes_is_refused():
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2)
    model = SimpleMLP(num_classes=2, input_size=8, hidden_sizes=(8,))
    strategy = CWRStar(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    strategy.train(benchmark.train_stream[0])
    with pytest.raises(ParameterError, match="2 outputs but the experience has class 3"):
        strategy.train(benchmark.train_stream[1])


def test_a_growing_classifier_and_the_state_restore_the_run_exactly():
    benchmark = toy_benchmark(n_experiences=3, classes_per_experience=2)

    def build():
        model = IncrementalMLP(8, (16,))
        return CWRStar(
            model=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
            train_mb_size=8,
            evaluator=None,
        )

    resumed = assert_resumes(build, benchmark.train_stream, split=2)
    plugin = resumed.plugins[0]
    assert plugin.consolidated_weight.shape == (6, 16)
    assert plugin.past_counts.gt(0).sum() == 6
    restored = state_round_trip(plugin, CWRStarPlugin(IncrementalMLP(8, (16,))))
    assert torch.equal(restored.consolidated_weight, plugin.consolidated_weight)


def test_cwr_star_beats_finetuning_on_class_incremental_digits():
    options = {
        "benchmark": split_digits(),
        "model": lambda: SimpleMLP(10, 64, (128,)),
        "lr": 0.01,
        "train_epochs": 4,
        "train_mb_size": 32,
    }
    naive = average_accuracy(**options)
    cwr = average_accuracy(CWRStar, **options)
    assert naive < 0.25
    assert cwr > naive + 0.25


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2)
    model = IncrementalMLP(8, (16,))
    strategy = CWRStar(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.05), device="cuda"
    )
    strategy.train(benchmark.train_stream)
    plugin = strategy.plugins[0]
    assert plugin.consolidated_weight.is_cuda and plugin.past_counts.gt(0).sum() == 4
    assert strategy.eval(benchmark.test_stream).accuracy > 0.5


def test_clhost_run_trains_it_with_the_defaults():
    result = CliRunner().invoke(main, ["run", "--strategy", "cwr-star", "-q"])
    assert result.exit_code == 0, result.output
    accuracy = float(result.output.split("Average accuracy")[1].split()[0])
    assert accuracy > 0.5  # finetuning: 0.2
    plugin = CliRunner().invoke(main, ["run", "--plugin", "cwr-star", "--epochs", "1", "-q"])
    assert plugin.exit_code == 0, plugin.output
