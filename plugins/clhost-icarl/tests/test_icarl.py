"""iCaRL: herding order, exemplar budgets per class, nearest-mean-of-exemplars evaluation,
exemplar augmentation, checkpoint resume, composition, errors and the effect on a
class-incremental stream."""

from collections import Counter

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from clhost import hookimpl
from clhost import testing as kit
from clhost.benchmarks import split_digits
from clhost.errors import ParameterError, UnknownNameError
from clhost.models import IncrementalClassifier, SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate
from clhost_icarl import FeatureClassifier, ICaRL, ICaRLPlugin, NormalizedHerding
from clhost_loss_icarl import ICaRLLossPlugin
from clhost_lr_scheduler import LRSchedulerPlugin
from clhost_selection_herding import HerdingSelectionStrategy


@pytest.fixture(scope="module")
def digits():
    return split_digits(n_experiences=5, seed=0)


def build(cls=ICaRL, *, n_classes=10, inputs=64, epochs=5, **kwargs):
    """``cls`` on a seeded MLP with SGD (``lr``, ``seed`` and the rest go to
    ``seeded_strategy``)."""
    return kit.seeded_strategy(
        cls, model=lambda: SimpleMLP(n_classes, inputs, (64,)), train_epochs=epochs, **kwargs
    )


def features_of(model, x):
    model.eval()
    with torch.no_grad():
        return F.normalize(model.features(x), dim=1)


def test_herding_picks_exemplars_in_the_known_order_on_normalised_features():
    # unit vectors a, b, c, d with mean (0.52, 0.64); worked by hand:
    # step 1 d (closest to the mean), step 2 c, step 3 a, then b
    unit = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.28, 0.96], [0.8, 0.6]])
    scaled = unit * torch.tensor([[5.0], [0.5], [2.0], [3.0]])
    herding = NormalizedHerding()
    assert herding.make_sorted_indices_from_features(unit) == [3, 2, 0, 1]
    assert herding.make_sorted_indices_from_features(scaled) == [3, 2, 0, 1]
    # the lengths of raw features would change the order: normalising matters
    raw = HerdingSelectionStrategy.make_sorted_indices_from_features(herding, scaled)
    assert raw == [3, 1, 0, 2]


def test_fixed_memory_is_shared_by_the_classes_seen_and_shrinks_by_dropping_the_last(digits):
    strategy = build(memory_size=200, evaluator=None, epochs=1)
    plugin = strategy.plugins[0]
    previous = {}
    for index, experience in enumerate(digits.train_stream):
        strategy.train(experience)
        seen = 2 * (index + 1)
        sets = plugin.memory.exemplar_sets
        assert sorted(sets) == sorted(experience.classes_seen_so_far)
        assert {label: len(data) for label, data in sets.items()} == {
            label: 200 // seen for label in sets
        }
        for label, data in previous.items():  # ReduceExemplarSet: a prefix of the old set
            torch.testing.assert_close(sets[label].x, data.x[: 200 // seen])
        for label in experience.classes_in_this_experience:  # ConstructExemplarSet
            samples = experience.dataset.subset(torch.nonzero(experience.dataset.y == label)[:, 0])
            order = NormalizedHerding().make_sorted_indices_from_features(
                features_of(strategy.model, samples.x)
            )
            torch.testing.assert_close(sets[label].x, samples.x[order[: 200 // seen]])
        previous = sets


def test_without_fixed_memory_every_class_keeps_memory_size_exemplars():
    benchmark = kit.toy_benchmark(3, 2)
    strategy = build(n_classes=6, inputs=8, memory_size=7, fixed_memory=False, evaluator=None)
    strategy.train(benchmark.train_stream)
    assert Counter(strategy.plugins[0].memory.buffer.y.tolist()) == {c: 7 for c in range(6)}


def test_evaluation_predicts_the_nearest_mean_of_exemplars_recomputed_after_each_experience():
    benchmark = kit.toy_benchmark(2, 2)
    strategy = build(n_classes=4, inputs=8, memory_size=20)
    plugin = strategy.plugins[0]
    strategy.train(benchmark.train_stream[0])
    first_means = {c: m.clone() for c, m in plugin.ncm.class_means_dict.items()}
    assert sorted(first_means) == [0, 1]
    strategy.train(benchmark.train_stream[1])
    means = plugin.ncm.class_means_dict
    assert sorted(means) == [0, 1, 2, 3]
    for label, data in plugin.memory.exemplar_sets.items():
        torch.testing.assert_close(means[label], features_of(strategy.model, data.x).mean(0))
    assert not torch.allclose(means[0], first_means[0]), "means follow the new features"

    outputs = []

    class OutputRecorder(SupervisedPlugin):
        @hookimpl
        def clhost_after_eval_forward(self, strategy):
            outputs.append(strategy.mb_output)

    recorder = OutputRecorder()
    strategy = build(n_classes=4, inputs=8, memory_size=20, plugins=[recorder])
    strategy.train(benchmark.train_stream)
    result = strategy.eval(benchmark.test_stream)
    x = torch.cat([experience.dataset.x for experience in benchmark.test_stream])
    y = torch.cat([experience.dataset.y for experience in benchmark.test_stream])
    features = features_of(strategy.model, x)
    prototypes = F.normalize(strategy.plugins[0].ncm.class_means[:4])
    expected = -torch.cdist(features, prototypes)
    torch.testing.assert_close(torch.cat(outputs), expected)
    accuracy = (expected.argmax(1) == y).float().mean().item()
    assert result.metrics["accuracy"] == pytest.approx(accuracy)
    assert strategy.plugins[0]._hook is None, "the feature hook is removed after evaluation"


def test_before_any_prototype_evaluation_keeps_the_models_outputs():
    benchmark = kit.toy_benchmark(2, 2)
    strategy = build(n_classes=4, inputs=8, memory_size=20)
    result = strategy.eval(benchmark.test_stream[0])
    with torch.no_grad():
        expected = strategy.model.eval()(benchmark.test_stream[0].dataset.x).argmax(1)
    accuracy = (expected == benchmark.test_stream[0].dataset.y).float().mean().item()
    assert result.metrics["accuracy"] == pytest.approx(accuracy)


def test_the_default_criterion_is_the_icarl_loss_and_a_feature_extractor_can_be_given():
    benchmark = kit.toy_benchmark(2, 2)
    torch.manual_seed(0)
    extractor = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
    classifier = IncrementalClassifier(16, 2)
    strategy = ICaRL(
        feature_extractor=extractor,
        classifier=classifier,
        optimizer=torch.optim.SGD([*extractor.parameters(), *classifier.parameters()], lr=0.1),
        memory_size=20,
        evaluator=None,
    )
    assert isinstance(strategy.loss_fn, ICaRLLossPlugin)
    assert isinstance(strategy.model, FeatureClassifier)
    assert strategy.model.features is extractor and strategy.model.classifier is classifier
    strategy.train(benchmark.train_stream)
    assert classifier.out_features == 4
    assert strategy.loss_fn.old_classes == [0, 1, 2, 3]
    assert len(strategy.plugins[0].memory) == 20


def test_buffer_transform_changes_the_exemplars_of_each_minibatch_only():
    benchmark = kit.toy_benchmark(2, 2)
    seen = []

    class BatchRecorder(SupervisedPlugin):
        @hookimpl
        def clhost_before_forward(self, strategy):
            seen.append((strategy.clock.train_exp_counter, strategy.mb_x, strategy.mb_y))

    strategy = build(
        n_classes=4,
        inputs=8,
        memory_size=20,
        buffer_transform=lambda x: x + 1000.0,
        plugins=[BatchRecorder()],
        evaluator=None,
    )
    strategy.train(benchmark.train_stream)
    first = torch.cat([x for exp, x, _ in seen if exp == 0])
    assert first.abs().max() < 100, "no exemplars, nothing transformed on the first experience"
    x = torch.cat([x for exp, x, _ in seen if exp == 1])
    y = torch.cat([y for exp, _, y in seen if exp == 1])
    transformed = x.min(dim=1).values > 500
    assert transformed.sum() == 20 * strategy.train_epochs
    assert set(y[transformed].tolist()) == {0, 1} and set(y[~transformed].tolist()) == {2, 3}
    stored = strategy.plugins[0].memory.buffer.x
    assert stored.abs().max() < 100, "the memory keeps the original exemplars"


def test_checkpoint_resume_gives_the_same_run(digits):
    resumed = kit.assert_resumes(
        lambda: build(memory_size=60, epochs=2, evaluator=None), digits.train_stream[:3], split=2
    )
    seen = {c for e in digits.train_stream[:3] for c in e.classes_in_this_experience}
    assert sorted(resumed.plugins[0].memory.exemplar_sets) == sorted(seen)
    assert resumed.plugins[0].ncm.has_mean.sum() == len(seen)


def test_composes_with_a_learning_rate_schedule(digits):
    scheduler = LRSchedulerPlugin("step", step_size=1, gamma=0.5)
    lrs = []

    class LRRecorder(SupervisedPlugin):
        @hookimpl
        def clhost_before_training_epoch(self, strategy):
            lrs.append(strategy.optimizer.param_groups[0]["lr"])

    strategy = build(memory_size=200, plugins=[scheduler, LRRecorder()], epochs=3)
    strategy.train(digits.train_stream[:2])
    assert lrs == [0.05, 0.025, 0.0125] * 2
    assert len(strategy.plugins[0].memory) == 200
    assert strategy.eval(digits.test_stream[:2]).metrics["accuracy"] > 0.8


def test_icarl_clearly_beats_naive_finetuning_on_class_incremental_split_digits(digits):
    options = dict(benchmark=digits, model=lambda: SimpleMLP(10, 64, (64,)), train_epochs=5)
    naive = kit.average_accuracy(**options)
    icarl = kit.average_accuracy(ICaRL, **options, memory_size=200)
    assert naive < 0.3
    assert icarl > 0.75, (naive, icarl)


def test_bad_parameters_get_clear_errors():
    with pytest.raises(ParameterError, match="memory_size"):
        ICaRLPlugin(memory_size=0)
    with pytest.raises(ParameterError, match="memory_size"):
        ICaRLPlugin(memory_size=-3)
    with pytest.raises(ParameterError, match="fixed_memory"):
        ICaRLPlugin(fixed_memory="no")
    with pytest.raises(ParameterError, match="buffer_transform"):
        ICaRLPlugin(buffer_transform=3)
    model = SimpleMLP(4, 8, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ParameterError, match="not both"):
        ICaRL(model=model, feature_extractor=model.features, optimizer=optimizer)
    with pytest.raises(ParameterError, match="feature_extractor and classifier"):
        ICaRL(feature_extractor=model.features, optimizer=optimizer)
    with pytest.raises(ParameterError, match="lacks features"):
        ICaRL(model=nn.Linear(8, 4), optimizer=optimizer)
    with pytest.raises(TypeError, match="memory_size"):
        ICaRL(model=model, optimizer=optimizer, memory=10)
    plugin = ICaRLPlugin(feature_layer="body")
    strategy = SupervisedTemplate(model=model, optimizer=optimizer, plugins=[plugin])
    with pytest.raises(UnknownNameError, match="body"):
        strategy.train(kit.toy_benchmark(2, 2).train_stream[0])
    small = build(n_classes=4, inputs=8, memory_size=3, evaluator=None)
    small.train(kit.toy_benchmark(2, 2).train_stream[0])
    with pytest.raises(ParameterError, match="no exemplar for each of 4 classes"):
        small.train(kit.toy_benchmark(2, 2).train_stream[1])


def test_multi_head_models_are_refused_with_a_clear_error():
    from clhost.errors import PluginCompositionError
    from clhost.models import MultiHeadMLP
    from clhost_icarl import ICaRL

    model = MultiHeadMLP(input_size=64, hidden_sizes=(8,))
    strategy = ICaRL(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(PluginCompositionError, match="multi-head"):
        strategy.train(split_digits(task_labels=True).train_stream[0])
