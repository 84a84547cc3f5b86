"""StreamingLDA: its statistics and classifier, its loop, its state, and that it does not
forget in the class-incremental setting it targets."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from clhost import hookimpl
from clhost.benchmarks import split_digits
from clhost.cli import main
from clhost.errors import ParameterError, PluginCompositionError
from clhost.models import SimpleMLP
from clhost.testing import assert_resumes, average_accuracy, run_readme_examples, toy_benchmark
from clhost_streaming_lda import StreamingLDA, StreamingLDAClassifier


def features_and_labels(n: int = 60, dims: int = 5, classes: int = 4, seed: int = 0):
    """Float64 features of ``classes`` shifted Gaussians, in a shuffled order."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (n,), generator=generator)
    x = torch.randn(n, dims, generator=generator, dtype=torch.float64) + 3 * y[:, None]
    return x, y


def pooled_statistics(x, y, classes):
    """The batch formulas: each class's mean, and the pooled within-class covariance."""
    means = torch.stack([x[y == k].mean(dim=0) for k in range(classes)])
    within = x - means[y]
    return means, within.T @ within / len(x)


def frozen_projection(seed: int = 0) -> nn.Module:
    """The feature extractor of the effect and resume tests: a fixed random ReLU layer."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU())


# -- the statistics -------------------------------------------------------------------


def test_minibatch_update_equals_one_sample_at_a_time_and_the_batch_formulas():
    x, y = features_and_labels()
    by_minibatch, by_sample = StreamingLDAClassifier(5, 4), StreamingLDAClassifier(5, 4)
    start = 0
    for size in (7, 1, 30, 22):  # uneven minibatches, one of a single sample
        by_minibatch.fit(x[start : start + size], y[start : start + size])
        start += size
    for i in range(len(x)):
        by_sample.fit(x[i : i + 1], y[i : i + 1])
    means, covariance = pooled_statistics(x, y, 4)
    for fitted in (by_minibatch, by_sample):
        torch.testing.assert_close(fitted.means, means)
        torch.testing.assert_close(fitted.covariance, covariance)
        assert fitted.counts.tolist() == torch.bincount(y, minlength=4).tolist()
        assert int(fitted.num_updates) == len(x)


def test_scores_are_the_shrunk_lda_discriminants_and_unseen_classes_rank_last():
    x, y = features_and_labels(classes=2)
    classifier = StreamingLDAClassifier(5, 3, shrinkage_param=0.3)
    classifier.fit(x, y)
    means, covariance = pooled_statistics(x, y, 2)
    precision = torch.linalg.inv(0.7 * covariance + 0.3 * torch.eye(5, dtype=torch.float64))
    expected = x @ precision @ means.T - 0.5 * torch.diag(means @ precision @ means.T)
    scores = classifier(x)
    torch.testing.assert_close(scores[:, :2], expected)
    assert (scores[:, 2] < scores[:, :2].amin(dim=1)).all()
    assert (scores.argmax(dim=1) == y).float().mean() > 0.95


def test_scores_follow_a_loaded_state():
    x, y = features_and_labels()
    trained, fresh = StreamingLDAClassifier(5, 4), StreamingLDAClassifier(5, 4)
    trained.fit(x, y)
    before = fresh(x)  # computes (and caches) the untrained classifier
    fresh.load_state_dict(trained.state_dict())
    assert not torch.equal(fresh(x), before)
    torch.testing.assert_close(fresh(x), trained(x))


def test_fixed_covariance_stays_while_the_means_learn():
    x, y = features_and_labels()
    classifier = StreamingLDAClassifier(5, 4, streaming_update_sigma=False)
    classifier.fit(x[:30], y[:30])
    torch.testing.assert_close(classifier.covariance, torch.eye(5, dtype=torch.float64))
    classifier.fit_base(x[:30], y[:30])  # the paper's base initialisation sets it
    base = pooled_statistics(x[:30], y[:30], 4)[1]
    torch.testing.assert_close(classifier.covariance, base)
    classifier.fit(x[30:], y[30:])
    torch.testing.assert_close(classifier.covariance, base)
    torch.testing.assert_close(classifier.means, pooled_statistics(x, y, 4)[0])


# -- the strategy ---------------------------------------------------------------------


def test_registered_with_avalanches_parameters():
    assert entry_points(group="clhost.strategies")["streaming-lda"].load() is StreamingLDA
    strategy = StreamingLDA(
        slda_model=nn.Identity(),
        criterion=nn.CrossEntropyLoss(),
        input_size=8,
        num_classes=4,
        output_layer_name=None,
        shrinkage_param=0.01,
        streaming_update_sigma=False,
    )
    classifier = strategy.model.classifier
    assert classifier.means.shape == (4, 8) and classifier.shrinkage_param == 0.01
    assert strategy.optimizer is None
    assert isinstance(StreamingLDA().model.feature_extractor, nn.Identity)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"shrinkage_param": 1.5}, ParameterError, "shrinkage_param"),
        ({"input_size": 0}, ParameterError, "input_size"),
        ({"streaming_update_sigma": "yes"}, ParameterError, "streaming_update_sigma"),
        ({"output_layer_name": "feature"}, ParameterError, "no Module layer named 'feature'"),
        (
            {"optimizer": torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)},
            TypeError,
            "optim",
        ),
    ],
)
def test_bad_parameters_get_one_clear_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        StreamingLDA(slda_model=SimpleMLP(4, 8, (16,)), **kwargs)


def test_plugins_of_the_gradient_steps_are_refused():
    class ClipsGradients:
        @hookimpl
        def clhost_after_backward(self, strategy):
            pass

    with pytest.raises(PluginCompositionError, match="never fires"):
        StreamingLDA(slda_model=nn.Identity(), plugins=[ClipsGradients()])


def test_one_pass_without_backpropagation_leaves_the_extractor_frozen():
    torch.manual_seed(0)
    extractor = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU())
    before = {k: v.clone() for k, v in extractor.state_dict().items()}
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2)
    strategy = StreamingLDA(slda_model=extractor, train_mb_size=10, evaluator=None)
    result = strategy.train(benchmark.train_stream)
    assert result.iterations == 2 * 100 // 10  # one pass, every minibatch fitted
    assert not extractor.training  # batch norm stays in eval mode
    for key, value in extractor.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in extractor.parameters())
    assert strategy.model.classifier.counts.tolist() == [50, 50, 50, 50]


def test_features_come_from_the_named_layer_and_sizes_are_measured():
    torch.manual_seed(0)
    extractor = SimpleMLP(4, 8, (16,))
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2)
    strategy = StreamingLDA(slda_model=extractor, output_layer_name="features", evaluator=None)
    strategy.train(benchmark.train_stream[0])
    classifier = strategy.model.classifier
    assert classifier.means.shape == (2, 16)  # the layer's size, and the classes so far
    x, y, _ = benchmark.train_stream[0].dataset.tensors
    with torch.no_grad():
        expected = torch.stack([extractor.features(x[y == k]).mean(dim=0) for k in (0, 1)])
    torch.testing.assert_close(classifier.means.float(), expected)
    assert torch.equal(strategy.model(x), strategy.model(x, torch.zeros_like(y)))  # task 0
    strategy.train(benchmark.train_stream[1])
    assert classifier.means.shape == (4, 16)


def test_sizes_that_do_not_fit_the_stream_are_reported():
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2)
    too_few = StreamingLDA(slda_model=nn.Identity(), num_classes=3, evaluator=None)
    too_few.train(benchmark.train_stream[0])
    with pytest.raises(ParameterError, match="num_classes is 3 but experience 1 has class 3"):
        too_few.train(benchmark.train_stream[1])
    wrong_size = StreamingLDA(slda_model=nn.Identity(), input_size=5, evaluator=None)
    with pytest.raises(ParameterError, match="features have size 8 but input_size is 5"):
        wrong_size.train(benchmark.train_stream[0])


# -- effect, state and the command line -----------------------------------------------


def test_beats_naive_finetuning_class_incrementally():
    benchmark = split_digits()
    strategy = StreamingLDA(slda_model=frozen_projection())
    for experience in benchmark.train_stream:
        strategy.train(experience)
    slda = strategy.eval(benchmark.test_stream).accuracy
    naive = average_accuracy(
        benchmark=benchmark, model=lambda: SimpleMLP(10, 64, (256,)), train_epochs=4
    )
    assert naive < 0.3 and slda > 0.9, (slda, naive)


def test_resumes_exactly_from_a_checkpoint():
    stream = split_digits().train_stream

    def build():
        return StreamingLDA(slda_model=frozen_projection(seed=torch.initial_seed()), evaluator=None)

    resumed = assert_resumes(build, stream, split=2)
    assert resumed.model.classifier.counts.sum() == sum(len(e.dataset) for e in stream)


def test_clhost_run_trains_it_with_the_defaults():
    result = CliRunner().invoke(main, ["run", "--strategy", "streaming-lda", "-q"])
    assert result.exit_code == 0, result.output
    average = re.search(r"^Average accuracy\s+(\d\.\d+)", result.output, re.M)
    assert average and float(average.group(1)) > 0.9  # LDA on the inputs: the identity
    assert "Hooks, in firing order" in CliRunner().invoke(main, ["info", "streaming-lda"]).output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_result():
    benchmark = split_digits(n_experiences=2)

    def accuracy(device):
        strategy = StreamingLDA(slda_model=frozen_projection(), device=device)
        strategy.train(benchmark.train_stream)
        return strategy.eval(benchmark.test_stream).accuracy

    assert accuracy("cuda") == pytest.approx(accuracy("cpu"), abs=0.01)


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).parents[1] / "README.md")
