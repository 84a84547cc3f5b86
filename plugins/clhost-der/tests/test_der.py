"""DER/DER++: logits are stored with the samples when they are seen, replayed through
named loss terms, masked where the classifier grew, and they prevent forgetting."""

import pytest
import torch

import clhost
from clhost import testing as kit
from clhost.benchmarks import split_digits
from clhost.models import IncrementalMLP, MultiHeadMLP, SimpleMLP
from clhost.templates import SupervisedTemplate
from clhost.testing import assert_resumes, average_accuracy, state_round_trip, toy_benchmark
from clhost_der import DER, DERPlugin


class Outputs:
    """Keeps each minibatch and the logits the model produced for it."""

    def __init__(self):
        self.seen = []

    @clhost.hookimpl
    def clhost_after_forward(self, strategy):
        self.seen.append((strategy.mb_x.clone(), strategy.mb_output.detach().clone()))


def _strategy(model, plugin, *extra, **options):
    return SupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        plugins=[plugin, *extra],
        **options,
    )


def test_memory_stores_the_logits_given_when_the_sample_was_seen():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(16,))
    plugin, outputs = DERPlugin(mem_size=1000), Outputs()
    _strategy(model, plugin, outputs).train(split_digits().train_stream[0])
    held = plugin.memory.buffer
    assert len(held) == len(split_digits().train_stream[0])  # all fit in the memory
    for x, logits in outputs.seen[:3]:
        for row in range(len(x)):
            stored = (held.x == x[row]).all(dim=1).nonzero()[0, 0]
            assert torch.equal(held.extras["logits"][stored], logits[row])


def test_terms_appear_once_memory_has_samples():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(16,))
    der_only = _strategy(model, DERPlugin(beta=0.0), train_mb_size=300)
    der_only.train(split_digits().train_stream[0])  # one iteration: memory was empty
    assert der_only.loss_terms == {}
    der_only.train(split_digits().train_stream[1])
    assert set(der_only.loss_terms) == {"der"}
    assert der_only.loss_terms["der"] > 0
    der_plus = _strategy(model, DERPlugin(), train_mb_size=100)
    der_plus.train(split_digits().train_stream[:2])
    assert set(der_plus.loss_terms) == {"der", "der++"}


def test_logits_from_before_growth_are_compared_on_old_units_only():
    torch.manual_seed(0)
    model = IncrementalMLP(input_size=64, hidden_sizes=(16,))
    plugin = DERPlugin(mem_size=50, alpha=1.0, beta=0.0)
    strategy = _strategy(model, plugin)
    strategy.train(split_digits().train_stream[0])
    old_width = model.classifier.out_features
    strategy.train(split_digits().train_stream[1])
    held = plugin.memory.buffer
    assert held.extras["logits"].shape[1] == model.classifier.out_features > old_width
    old_rows = held.extras["logit_width"] == old_width
    assert old_rows.any()
    assert (held.extras["logits"][old_rows, old_width:] == 0).all()

    # Only old-width samples held: moving the new units' outputs changes nothing.
    plugin.memory = type(plugin.memory)(int(old_rows.sum()))
    plugin.memory.update_from_data(held.subset(old_rows.nonzero().squeeze(1)))
    terms = []
    for shift in (0.0, 100.0):
        with torch.no_grad():
            model.classifier.classifier.bias[old_width:] += shift
        torch.manual_seed(1)
        terms.append(plugin.clhost_loss_terms(strategy)[0][1])
    assert torch.allclose(terms[0], terms[1])


def test_memory_rows_of_narrower_heads_keep_the_term_finite():
    """A multi-head output fills the units a row's head lacks with the lowest float:
    masked out of the distance, they must not turn it into inf * 0 = NaN."""
    torch.manual_seed(0)
    model = MultiHeadMLP(64, (16,))
    strategy = _strategy(model, DERPlugin(mem_size=100), train_mb_size=32, evaluator=None)
    stream = split_digits(task_labels=True).train_stream
    strategy.train(stream[0])
    strategy.train(stream[1])  # heads of different widths: memory batches mix them
    assert torch.isfinite(strategy.loss_terms["der"]) and strategy.loss_terms["der"] > 0


def test_state_round_trip_restores_samples_and_logits():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(16,))
    plugin = DERPlugin(mem_size=40)
    _strategy(model, plugin).train(split_digits().train_stream[0])
    restored = state_round_trip(plugin, DERPlugin(mem_size=40))
    stored = plugin.memory.buffer.extras["logits"]
    assert torch.equal(restored.memory.buffer.extras["logits"], stored)
    assert torch.equal(restored.memory.keys, plugin.memory.keys)


def test_experience_update_stores_a_class_balanced_memory_with_the_trained_logits():
    """Avalanche's alternative: nothing is stored while an experience trains; after it,
    each class gets its share, with the trained model's evaluation-mode logits."""
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(16,), dropout=0.5)
    plugin = DERPlugin(mem_size=30, memory_update="experience")
    strategy = _strategy(model, plugin, train_mb_size=16)
    stream = split_digits().train_stream
    strategy.train(stream[0])
    assert strategy.loss_terms == {}  # the memory was empty throughout the first experience
    strategy.train(stream[1])
    assert set(strategy.loss_terms) == {"der", "der++"}
    held = plugin.memory.buffer
    counts = torch.bincount(held.y, minlength=10)
    classes = [*stream[0].classes_in_this_experience, *stream[1].classes_in_this_experience]
    assert sorted(counts.nonzero().squeeze(1).tolist()) == sorted(classes)
    assert counts.sum() == 30 and counts[counts > 0].min() >= 7
    model.eval()
    with torch.no_grad():
        latest = torch.isin(held.y, torch.tensor(stream[1].classes_in_this_experience))
        assert torch.allclose(held.extras["logits"][latest], model(held.x[latest]), atol=1e-6)


def test_experience_update_pads_logits_when_the_classifier_grows():
    torch.manual_seed(0)
    model = IncrementalMLP(input_size=64, hidden_sizes=(16,))
    plugin = DERPlugin(mem_size=40, memory_update="experience")
    strategy = _strategy(model, plugin)
    widths = []
    for experience in split_digits().train_stream[:3]:
        strategy.train(experience)
        widths.append(model.classifier.out_features)
    held = plugin.memory.buffer
    assert held.extras["logits"].shape[1] == widths[-1]
    assert set(held.extras["logit_width"].tolist()) == set(widths)


def test_experience_update_survives_a_state_round_trip():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(16,))
    plugin = DERPlugin(mem_size=40, memory_update="experience")
    _strategy(model, plugin).train(split_digits().train_stream[:2])
    restored = state_round_trip(plugin, DERPlugin(mem_size=40, memory_update="experience"))
    assert torch.equal(
        restored.memory.buffer.extras["logits"], plugin.memory.buffer.extras["logits"]
    )


@pytest.mark.parametrize("memory_update", ["minibatch", "experience"])
def test_a_resumed_run_ends_as_one_never_stopped(memory_update):
    benchmark = toy_benchmark(3, 2)

    def build():
        model = IncrementalMLP(input_size=8, hidden_sizes=(16,))
        return DER(
            model=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
            mem_size=30,
            memory_update=memory_update,
            evaluator=None,
        )

    resumed = assert_resumes(build, benchmark.train_stream)
    assert len(resumed.plugins[0].memory) == 30


def test_bad_parameters_are_refused():
    kit.assert_refuses(
        DERPlugin,
        {"alpha": -1.0},
        {"beta": "high"},
        {"batch_size_mem": 0},
        {"mem_size": -5},
        {"memory_update": "epoch"},
    )


def test_der_plus_plus_beats_naive_on_split_digits():
    setup = {
        "benchmark": split_digits(),
        "model": lambda: SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(128,)),
        "train_epochs": 5,
    }
    naive = average_accuracy(**setup)
    der = average_accuracy(DER, mem_size=200, **setup)
    after_experience = average_accuracy(DER, mem_size=200, memory_update="experience", **setup)
    assert naive < 0.25
    assert der > 0.8 and after_experience > 0.8
