"""SCR: two-view replay batches from a reservoir memory, the contrastive loss on their
projections, nearest-class-mean prediction over the memory, augmentations, a checkpointable
state, and online learning on Split Digits that beats online naive."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import clhost
from clhost import testing as kit
from clhost.benchmarks import permuted_digits
from clhost.data import Experience, TensorData
from clhost.errors import ParameterError, PluginCompositionError
from clhost.models import MultiHeadMLP, SimpleMLP
from clhost.templates import OnlineSupervisedTemplate
from clhost_loss_scr import SCRLoss
from clhost_scr import (
    SCR,
    FeatureDropout,
    GaussianNoise,
    RandomCrop,
    RandomHorizontalFlip,
    SCRModel,
    SCRPlugin,
    make_augmentations,
)


def _online(plugin, *extra, **kwargs):
    torch.manual_seed(0)
    model = SCRModel.from_model(SimpleMLP(4, 8, (32,)), projection_size=16)
    options = {"evaluator": "default", "criterion": plugin.criterion, **kwargs}
    return kit.online_strategy_for(model, [plugin, *extra], **options)


# -- augmentations ----------------------------------------------------------------------


def test_crop_shifts_each_image_within_its_padding():
    torch.manual_seed(0)
    images = torch.arange(2 * 3 * 6 * 6, dtype=torch.float).reshape(2, 3, 6, 6) + 1
    cropped = RandomCrop(padding=2)(images)
    assert cropped.shape == images.shape
    padded = F.pad(images, (2, 2, 2, 2))
    for image, crop in zip(padded, cropped, strict=True):
        windows = [image[:, r : r + 6, c : c + 6] for r in range(5) for c in range(5)]
        assert any(torch.equal(window, crop) for window in windows)


def test_flip_mirrors_with_its_probability():
    images = torch.randn(4, 1, 3, 5)
    assert torch.equal(RandomHorizontalFlip(p=1.0)(images), images.flip(-1))
    assert torch.equal(RandomHorizontalFlip(p=0.0)(images), images)


def test_flat_augmentations_keep_the_shape_and_perturb():
    torch.manual_seed(0)
    x = torch.ones(50, 64)
    dropped = FeatureDropout(p=0.5)(x)
    assert (
        set(dropped.unique().tolist()) == {0.0, 1.0} and 0.3 < (dropped == 0).float().mean() < 0.7
    )
    noisy = GaussianNoise(std=0.1)(x)
    assert noisy.shape == x.shape and 0.07 < (noisy - x).std() < 0.13


def test_auto_picks_by_shape_and_callables_pass_through():
    torch.manual_seed(0)
    auto = make_augmentations("auto")
    flat, images = torch.ones(8, 16), torch.ones(8, 1, 6, 6)
    assert auto(flat).shape == flat.shape and not torch.equal(auto(flat), flat)
    shifted = auto(images)  # crop-flip of a constant image: zeros enter from the padding
    assert shifted.shape == images.shape and set(shifted.unique().tolist()) <= {0.0, 1.0}

    def double(x):
        return 2 * x

    assert make_augmentations(double) is double
    with pytest.raises(ParameterError, match="augmentations"):
        make_augmentations("rotate")
    with pytest.raises(ValueError, match="image batches"):
        RandomCrop()(flat)


# -- model ------------------------------------------------------------------------------


def test_model_projects_in_training_and_gives_features_in_eval():
    torch.manual_seed(0)
    model = SCRModel.from_model(SimpleMLP(num_classes=3, input_size=5, hidden_sizes=(7,)), 4)
    x = torch.randn(6, 5)
    projected = model(x)
    assert projected.shape == (6, 4)
    assert torch.allclose(projected.norm(dim=1), torch.ones(6))
    model.eval()
    features = model(x)
    assert features.shape == (6, 7) and torch.allclose(features, model.embed(x))
    assert torch.allclose(features, F.normalize(model.feature_extractor(x), dim=1))
    with pytest.raises(ParameterError, match="features"):
        SCRModel.from_model(nn.Linear(5, 3))
    with pytest.raises(ParameterError, match="single-head"):  # was accepted, heads unused
        SCRModel.from_model(MultiHeadMLP(input_size=5, hidden_sizes=(7,)))


def test_the_head_can_take_the_normalised_features_the_classifier_compares():
    torch.manual_seed(0)
    base = SimpleMLP(num_classes=3, input_size=5, hidden_sizes=(7,))
    paper = SCRModel.from_model(base, 4)
    normalised = SCRModel(base.features, paper.projection, normalize_before_projection=True)
    x = torch.randn(6, 5)
    features = base.features(x)
    torch.testing.assert_close(paper(x), F.normalize(paper.projection(features), dim=1))
    expected = F.normalize(paper.projection(F.normalize(features, dim=1)), dim=1)
    torch.testing.assert_close(normalised(x), expected)
    assert not torch.allclose(normalised(x), paper(x))
    torch.testing.assert_close(normalised.eval()(x), paper.eval()(x))  # same NCM features
    with pytest.raises(ParameterError, match="normalize_before_projection"):
        SCRModel(base.features, paper.projection, normalize_before_projection="yes")


def test_a_head_on_normalised_features_keeps_permuted_digits_apart():
    """Domain-incremental digits, an MLP without normalisation layers: trained on the
    normalised features (Avalanche's SCRModel), the head shapes the very directions the
    NCM classifier compares, and the stream is learnt much better (0.81 against 0.69)."""
    benchmark = permuted_digits(3, seed=0)
    accuracy = {}
    for flag in (False, True):
        torch.manual_seed(0)
        base = SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(128,))
        strategy = SCR(
            model=base,
            optimizer=torch.optim.SGD(base.parameters(), lr=0.1),
            mem_size=200,
            train_mb_size=32,
            train_epochs=3,
            normalize_before_projection=flag,
        )
        assert strategy.model.normalize_before_projection is flag
        for experience in benchmark.train_stream:
            strategy.train(experience)
        accuracy[flag] = strategy.eval(benchmark.test_stream).metrics["accuracy"]
    assert accuracy[True] > accuracy[False] + 0.05, accuracy


# -- training ---------------------------------------------------------------------------


def test_each_minibatch_joins_the_memory_and_is_doubled_with_its_augmented_copy():
    spy = kit.MinibatchRecorder()
    plugin = SCRPlugin(augmentations=lambda x: x + 100, mem_size=30, batch_size_mem=7)
    _online(plugin, spy).train(kit.online_stream()[:3])
    sizes = [len(batch[1]) for batch in spy.batches]
    assert sizes == [20, 34, 34]  # 10 incoming, then 10 + 7 replayed; two views each
    x, y, t = spy.batches[-1]
    assert torch.equal(x[17:], x[:17] + 100)
    assert torch.equal(y[17:], y[:17]) and torch.equal(t[17:], t[:17])
    stored = plugin.memory.buffer.x
    assert all((stored == row).all(dim=1).any() for row in x[10:17])  # replayed from memory


def test_the_loss_is_scr_loss_over_the_two_views_of_the_projections():
    spy = kit.MinibatchRecorder()
    plugin = SCRPlugin(mem_size=30, batch_size_mem=7, temperature=0.2)
    _online(plugin, spy).train(kit.online_stream()[:3])
    output, (_, y, _) = spy.outputs[-1], spy.batches[-1]
    assert output.shape == (34, 16)
    views = torch.stack((output[:17], output[17:]), dim=1)
    expected = SCRLoss(temperature=0.2)(views, y[:17])
    assert spy.losses[-1].item() == pytest.approx(expected.item(), rel=1e-5)


def test_memory_is_a_bounded_reservoir_that_takes_each_minibatch_once():
    plugin = SCRPlugin(mem_size=200, batch_size_mem=10)
    _online(plugin, train_passes=3).train(kit.online_stream()[:5])
    assert len(plugin.memory) == 50
    small = SCRPlugin(mem_size=30, batch_size_mem=10)
    _online(small).train(kit.online_stream())
    assert len(small.memory) == 30 and set(small.memory.buffer.y.tolist()) == {0, 1, 2, 3}


def test_misuse_is_refused():
    stream = kit.online_stream()[:1]
    model = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    plugin = SCRPlugin()
    plain = kit.online_strategy_for(model, [plugin], criterion=plugin.criterion)
    with pytest.raises(PluginCompositionError, match="SCRModel"):
        plain.train(stream)
    scr_model = SCRModel.from_model(model)
    without_loss = kit.online_strategy_for(scr_model, [SCRPlugin()])
    with pytest.raises(PluginCompositionError, match="criterion"):
        without_loss.train(stream)
    with pytest.raises(ParameterError, match="mem_size"):
        SCRPlugin(mem_size=0)
    with pytest.raises(ParameterError, match="temperature"):
        SCRPlugin(temperature=0.0)


# -- nearest class mean -----------------------------------------------------------------


def _identity_strategy(plugin, spy):
    model = SCRModel(nn.Identity(), nn.Identity())
    return OnlineSupervisedTemplate(
        model=model,
        optimizer=torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1),
        criterion=plugin.criterion,
        plugins=[plugin, spy],
    )


def test_predicts_the_nearest_class_mean_of_the_memory():
    plugin, spy = SCRPlugin(mem_size=10), kit.MinibatchRecorder()
    strategy = _identity_strategy(plugin, spy)
    memory_x = torch.tensor([[2.0, 0.0], [1.0, 0.2], [0.0, 3.0], [0.2, 1.0]])
    plugin.memory.update_from_data(TensorData(memory_x, torch.tensor([0, 0, 2, 2])))
    test_x = torch.tensor([[1.0, 0.1], [0.3, 1.0], [1.0, 0.9], [-1.0, 0.1]])
    test_y = torch.tensor([0, 2, 2, 0])
    data = TensorData(test_x, test_y)
    result = strategy.eval(Experience(data, 0, "test", classes_in_this_experience=(0, 2)))

    unit = F.normalize(memory_x, dim=1)
    means = F.normalize(torch.stack((unit[:2].mean(0), unit[2:].mean(0))), dim=1)
    distances = torch.cdist(F.normalize(test_x, dim=1), means)
    scores = spy.eval_outputs[0]
    assert scores.shape == (4, 3)
    assert torch.allclose(scores[:, [0, 2]], -distances, atol=1e-6)
    assert (scores[:, 1] < scores[:, [0, 2]].min(dim=1).values - 1000).all()  # no mean
    assert scores.argmax(dim=1).tolist() == [0, 2, 0, 2]  # (1, .9) is nearer mean 0
    assert result.metrics["accuracy"] == pytest.approx(0.5)


def test_class_means_follow_the_model_and_the_memory():
    plugin = SCRPlugin(mem_size=40, batch_size_mem=10)
    strategy = _online(plugin)
    stream = kit.online_stream()
    strategy.train(stream[:6])
    strategy.eval(stream[:1])
    held = plugin.memory.buffer
    features = strategy.model.embed(held.x)
    for label, mean in plugin.classifier.class_means_dict.items():
        assert torch.allclose(mean, features[held.y == label].mean(0), atol=1e-6)
    before = plugin.classifier.class_means.clone()
    strategy.train(stream[6:8])
    strategy.eval(stream[:1])
    assert not torch.allclose(before, plugin.classifier.class_means[: len(before)])


def test_evaluation_before_any_memory_gives_uniform_scores():
    plugin, spy = SCRPlugin(), kit.MinibatchRecorder()
    strategy = _online(plugin, spy)
    result = strategy.eval(kit.toy_benchmark(2).test_stream)
    assert all(torch.equal(out, torch.zeros_like(out)) for out in spy.eval_outputs)
    assert torch.isfinite(torch.tensor(result.metrics["loss"]))


# -- state ------------------------------------------------------------------------------


def test_state_round_trip_restores_memory_and_predictions():
    stream = kit.online_stream()
    first = SCRPlugin(mem_size=30, batch_size_mem=10)
    strategy = _online(first)
    strategy.train(stream[:12])
    second = kit.state_round_trip(first, SCRPlugin(mem_size=30, batch_size_mem=10))
    assert torch.equal(first.memory.buffer.x, second.memory.buffer.x)

    spies = [kit.MinibatchRecorder(), kit.MinibatchRecorder()]
    for plugin, spy in zip((first, second), spies, strict=True):
        evaluator = _online(plugin, spy)
        evaluator.model.load_state_dict(strategy.model.state_dict())
        evaluator.eval(kit.toy_benchmark(2).test_stream)
    assert all(
        torch.allclose(a, b)
        for a, b in zip(spies[0].eval_outputs, spies[1].eval_outputs, strict=True)
    )
    with pytest.raises(clhost.errors.CheckpointError):
        second.load_state_dict({})


def test_a_resumed_run_ends_as_one_never_stopped():
    def build():
        return _online(SCRPlugin(mem_size=30, batch_size_mem=10), evaluator=None)

    resumed = kit.assert_resumes(build, kit.online_stream()[:14], split=12)
    assert len(resumed.plugins[0].memory) == 30


# -- strategy ---------------------------------------------------------------------------


def test_strategy_wraps_the_model_and_adds_the_head_to_the_optimizer():
    base = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(16,))
    optimizer = torch.optim.SGD(base.parameters(), lr=0.1)
    extra = kit.MinibatchRecorder()
    strategy = SCR(model=base, optimizer=optimizer, mem_size=20, plugins=[extra])
    plugin = strategy.plugins[0]
    assert isinstance(plugin, SCRPlugin) and strategy.plugins[1] is extra
    assert (
        isinstance(strategy.model, SCRModel) and strategy.model.feature_extractor is base.features
    )
    assert strategy.model.projection[-1].out_features == 128
    head = {id(p) for p in strategy.model.projection.parameters()}
    assert {id(p) for p in optimizer.param_groups[-1]["params"]} == head
    strategy.train(kit.toy_benchmark(2).train_stream)
    assert len(plugin.memory) == 20
    assert strategy.eval(kit.toy_benchmark(2).test_stream).metrics["accuracy"] > 0.5
    with pytest.raises(ParameterError, match="criterion"):
        SCR(model=base, optimizer=optimizer, criterion=nn.CrossEntropyLoss())
    with pytest.raises(ParameterError, match="projection_size"):
        SCR(model=strategy.model, optimizer=optimizer, projection_size=64)
    with pytest.raises(ParameterError, match="normalize_before_projection"):
        SCR(model=strategy.model, optimizer=optimizer, normalize_before_projection=True)


def test_scr_beats_online_naive_on_split_digits():
    naive = kit.online_accuracy()
    plugin = SCRPlugin(mem_size=100, batch_size_mem=100)
    scr = kit.online_accuracy(
        [plugin],
        model=lambda: SCRModel.from_model(SimpleMLP(10, 64, (100,))),
        criterion=plugin.criterion,
    )
    assert naive < 0.25
    assert scr > naive + 0.5
