"""LFL: the feature-distance term is zero on the first experience and exactly the paper's
afterwards, the units of classes already learnt stay frozen whatever the optimizer does,
a checkpointed run resumes exactly, and LFL beats finetuning on task- and
domain-incremental digits."""

from pathlib import Path

import pytest
import torch
from torch import nn

from clhost import hookimpl
from clhost.benchmarks import permuted_digits, split_digits, split_online
from clhost.errors import ParameterError, PluginCompositionError
from clhost.models import IncrementalMLP, MultiHeadMLP, SimpleMLP
from clhost.templates import SupervisedTemplate
from clhost.testing import (
    assert_resumes,
    average_accuracy,
    run_readme_examples,
    state_round_trip,
    strategy_for,
    toy_benchmark,
)
from clhost_lfl import LFL, LFLPlugin


class TermCheck:
    """Recomputes the LFL term from the previous model before each backward pass."""

    def __init__(self, plugin, weight):
        self.plugin, self.weight, self.checked = plugin, weight, []

    @hookimpl
    def clhost_before_backward(self, strategy):
        term = strategy.loss_terms["lfl"]
        previous = self.plugin.previous_model.module(strategy.model)
        if previous is None:
            self.checked.append(term.item())
            assert term == 0
            return
        with torch.no_grad():
            new = strategy.model.features(strategy.mb_x)
            old = previous.features(strategy.mb_x)
        expected = self.weight * 0.5 * (new - old).pow(2).sum(1).mean()
        assert torch.allclose(term, expected, rtol=1e-5), (term, expected)
        self.checked.append(term.item())


def _strategy(model, *plugins, momentum=0.9, weight_decay=0.0, epochs=2, evaluator=None):
    return SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(
            model.parameters(), lr=0.05, momentum=momentum, weight_decay=weight_decay
        ),
        plugins=plugins,
        train_epochs=epochs,
        evaluator=evaluator,
    )


def test_term_is_zero_first_then_half_the_squared_feature_distance():
    torch.manual_seed(0)
    bench = toy_benchmark(2, 2)
    lfl = LFLPlugin(lambda_e=[5.0, 0.3])
    check = TermCheck(lfl, weight=0.3)
    strategy = _strategy(IncrementalMLP(8, (16,)), lfl, check)
    strategy.train(bench.train_stream[0])
    first = len(check.checked)
    assert first > 0 and all(term == 0 for term in check.checked)
    strategy.train(bench.train_stream[1])
    assert len(check.checked) > first and check.checked[-1] > 0


def test_units_of_learnt_classes_stay_frozen_new_units_train():
    torch.manual_seed(0)
    bench = toy_benchmark(2, 2)
    model = IncrementalMLP(8, (16,))
    lfl = LFLPlugin(lambda_e=0.1)
    strategy = _strategy(model, lfl, weight_decay=0.01)
    strategy.train(bench.train_stream[0])
    layer = model.classifier.classifier
    assert lfl.learnt_units == {"classifier.classifier": (0, 1)}
    before = layer.weight.detach().clone(), layer.bias.detach().clone()
    features_before = model.features[1].weight.detach().clone()
    strategy.train(bench.train_stream[1])
    layer = model.classifier.classifier  # replaced when the classifier grew
    assert torch.equal(layer.weight[:2], before[0][:2])
    assert torch.equal(layer.bias[:2], before[1][:2])
    assert not torch.equal(layer.weight[2:], before[0][2:])  # the new classes were learnt
    assert not torch.equal(model.features[1].weight, features_before)
    assert lfl.learnt_units == {"classifier.classifier": (0, 1, 2, 3)}


def test_last_layer_freeze_keeps_every_unit_after_the_first_experience():
    """The paper's and Avalanche's choice: the whole classifier is frozen, the units of
    classes not seen yet included; only the features learn afterwards."""
    torch.manual_seed(0)
    bench = toy_benchmark(2, 2)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    strategy = _strategy(model, LFLPlugin(lambda_e=0.1, freeze="last_layer"))
    strategy.train(bench.train_stream[0])
    weight, bias = model.classifier.weight.detach().clone(), model.classifier.bias.detach().clone()
    features = model.features[1].weight.detach().clone()
    strategy.train(bench.train_stream[1])
    assert torch.equal(model.classifier.weight, weight) and torch.equal(model.classifier.bias, bias)
    assert not torch.equal(model.features[1].weight, features)
    with pytest.raises(ParameterError, match="freeze"):
        LFLPlugin(freeze="everything")


def test_online_pieces_are_consolidated_when_their_experience_ends():
    """Pieces of one experience train with the same previous model and freeze nothing
    between them; the units are frozen and the model remembered after the last piece."""
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    lfl = LFLPlugin(lambda_e=0.1)
    strategy = _strategy(model, lfl, epochs=1)
    pieces = split_online(toy_benchmark(2, 2).train_stream, 20)  # 5 pieces per experience
    for piece in pieces[:4]:
        strategy.train(piece)
    assert lfl.learnt_units == {} and lfl.previous_model.module(model) is None
    assert lfl.units_in_progress == {"classifier": (0, 1)}
    strategy.train(pieces[4])
    assert lfl.learnt_units == {"classifier": (0, 1)} and lfl.experiences_seen == 1
    remembered = lfl.previous_model.module(model).classifier.weight.clone()
    for piece in pieces[5:9]:
        strategy.train(piece)
    assert torch.equal(lfl.previous_model.module(model).classifier.weight, remembered)
    assert lfl.experiences_seen == 1


def test_piece_consolidation_remembers_the_model_after_every_online_piece():
    """consolidate="piece": each piece trains against the model as the last piece left it
    and freezes what it learnt; a list lambda_e is still indexed by experience."""
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    lfl = LFLPlugin(lambda_e=[0.0, 0.1], consolidate="piece")
    strategy = _strategy(model, lfl, epochs=1)
    pieces = split_online(toy_benchmark(2, 2).train_stream, 20)  # 5 pieces per experience
    strategy.train(pieces[0])
    units = lfl.learnt_units["classifier"]
    assert units == tuple(pieces[0].dataset.classes) and lfl.experiences_seen == 0
    remembered = lfl.previous_model.module(model).classifier.weight.clone()
    assert torch.equal(remembered, model.classifier.weight)
    strategy.train(pieces[1])
    rows = list(units)
    assert torch.equal(model.classifier.weight[rows], remembered[rows])  # frozen after a piece
    assert not torch.equal(lfl.previous_model.module(model).classifier.weight, remembered)
    for piece in pieces[2:5]:
        strategy.train(piece)
    assert lfl.experiences_seen == 1 and lfl.lambda_e.at(lfl.experiences_seen) == 0.1
    with pytest.raises(ParameterError, match="consolidate"):
        LFLPlugin(consolidate="batch")


def test_domain_incremental_freezes_the_whole_last_layer_as_in_the_paper():
    torch.manual_seed(0)
    bench = permuted_digits(3)
    model = SimpleMLP(10, 64, (16,))
    strategy = _strategy(model, LFLPlugin(lambda_e=0.1), epochs=1)
    strategy.train(bench.train_stream[0])
    frozen = [p.detach().clone() for p in model.classifier.parameters()]
    strategy.train(bench.train_stream[1:])
    for param, kept in zip(model.classifier.parameters(), frozen, strict=True):
        assert torch.equal(param, kept)


def test_each_head_freezes_only_the_units_of_its_own_task():
    torch.manual_seed(0)
    bench = split_digits(5, task_labels=True, class_ids_from_zero_in_each_exp=True)
    model = MultiHeadMLP(64, (16,))
    lfl = LFLPlugin(lambda_e=0.1)
    strategy = _strategy(model, lfl, weight_decay=0.01, epochs=1)
    strategy.train(bench.train_stream[0])
    head_0 = model.classifier.heads["0"].weight.detach().clone()
    strategy.train(bench.train_stream[1])
    # Every task uses classes 0..k: the new head must still learn its units 0..k.
    assert lfl.learnt_units["classifier.heads.1"] == lfl.learnt_units["classifier.heads.0"]
    assert torch.equal(model.classifier.heads["0"].weight, head_0)
    head_1 = model.classifier.heads["1"].weight.detach().clone()
    strategy.train(bench.train_stream[2])
    assert torch.equal(model.classifier.heads["1"].weight, head_1)
    assert set(lfl.learnt_units) == {f"classifier.heads.{t}" for t in range(3)}


def test_model_without_features_uses_the_input_of_its_last_linear_layer():
    torch.manual_seed(0)
    bench = permuted_digits(2)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    lfl = LFLPlugin(lambda_e=1.0)
    strategy = _strategy(model, lfl, epochs=1)
    strategy.train(bench.train_stream[0])
    last = model[2].weight.detach().clone()
    strategy.train(bench.train_stream[1])
    assert strategy.loss_terms["lfl"] > 0
    assert torch.equal(model[2].weight, last)
    no_linear = _strategy(nn.Sequential(nn.Flatten(), nn.LayerNorm(64)), LFLPlugin())
    with pytest.raises(PluginCompositionError, match="features"):
        no_linear.train(bench.train_stream[0])


def test_bad_lambda_is_named():
    with pytest.raises(ParameterError, match="lambda_e"):
        LFLPlugin(lambda_e=-1.0)
    with pytest.raises(ParameterError, match="lambda_e lists 1 weights"):
        LFLPlugin(lambda_e=[1.0]).lambda_e.at(1)


def test_a_checkpointed_run_resumes_with_the_previous_model_and_the_frozen_units():
    def build():
        model, lfl = IncrementalMLP(8, (16,)), LFLPlugin(lambda_e=0.5)
        return strategy_for(model, [lfl], optimizer="sgd", lr=0.05, momentum=0.9, train_epochs=2)

    resumed = assert_resumes(build, toy_benchmark(3, 2).train_stream, split=2)
    plugin = resumed.plugins[0]
    assert plugin.learnt_units == {"classifier.classifier": (0, 1, 2, 3, 4, 5)}
    restored = state_round_trip(plugin, LFLPlugin())
    assert restored.learnt_units == plugin.learnt_units and restored.experiences_seen == 3
    remembered = restored.previous_model.module(resumed.model)
    assert all(
        torch.equal(a, b)
        for a, b in zip(remembered.parameters(), resumed.model.parameters(), strict=True)
    )


def test_beats_finetuning_on_task_incremental_split_digits():
    setup = {
        "benchmark": split_digits(task_labels=True),
        "model": lambda: MultiHeadMLP(64, (64, 64)),
        "train_epochs": 10,
    }
    naive, lfl = average_accuracy(**setup), average_accuracy(LFL, lambda_e=0.1, **setup)
    assert lfl >= naive + 0.06, (lfl, naive)  # measured 0.95 vs 0.84


def test_beats_finetuning_on_domain_incremental_permuted_digits():
    setup = {
        "benchmark": permuted_digits(),
        "model": lambda: SimpleMLP(10, 64, (64, 64)),
        "train_epochs": 5,
    }
    naive, lfl = average_accuracy(**setup), average_accuracy(LFL, lambda_e=1.0, **setup)
    assert lfl >= naive + 0.1, (lfl, naive)  # measured 0.53 vs 0.32


def test_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
