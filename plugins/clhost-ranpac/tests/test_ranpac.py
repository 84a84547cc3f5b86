from pathlib import Path

import pytest
import torch

from clhost.errors import ParameterError
from clhost.testing import assert_resumes, run_readme_examples
from clhost_pretrained.testing import assert_beats_naive, pretrained_vit, texture_stream
from clhost_ranpac import RandomProjectionRidge, RanPAC


@pytest.fixture(scope="module")
def stream():
    return texture_stream()


def ranpac(path, **options):
    return RanPAC(model=pretrained_vit(path), projection_size=256, ridge=100.0, **options)


def test_streaming_solution_is_the_batch_ridge_regression(stream, pretrained_path):
    strategy = ranpac(pretrained_path, train_mb_size=7)
    for experience in stream.train_stream:
        strategy.train(experience)
    classifier = strategy.model.classifier
    x = torch.cat([e.dataset.x for e in stream.train_stream])
    y = torch.cat([e.dataset.y for e in stream.train_stream])
    h = classifier.project(strategy.model.features(x))  # the backbone adapted on experience 0
    targets = torch.nn.functional.one_hot(y, stream.n_classes).double()
    # the ridge solution as a least-squares problem on the data stacked over sqrt(ridge) I
    stacked = torch.cat((h, 10.0 * torch.eye(256, dtype=h.dtype)))
    padded = torch.cat((targets, torch.zeros(256, stream.n_classes, dtype=h.dtype)))
    batch = torch.linalg.lstsq(stacked, padded).solution
    torch.testing.assert_close(classifier.weights(), batch, rtol=1e-5, atol=1e-6)
    # second-order statistics only (float32 features differ by rounding with the batch size)
    torch.testing.assert_close(classifier.gram, h.T @ h, rtol=1e-5, atol=1e-3)
    assert set(dict(strategy.model.classifier.named_buffers())) == {"projection", "gram", "cross"}


def test_minibatch_order_and_size_do_not_matter():
    torch.manual_seed(0)
    features, targets = torch.randn(30, 5), torch.randint(3, (30,))
    one, other = RandomProjectionRidge(16, 1.0), RandomProjectionRidge(16, 1.0)
    for classifier in (one, other):
        classifier.resize(5, 3)
    one.fit(features, targets)
    order = torch.randperm(30)
    for part in order.split(4):
        other.fit(features[part], targets[part])
    torch.testing.assert_close(one.weights(), other.weights())
    assert one(features).shape == (30, 3)


def test_training_solves_once_per_experience_and_evaluation_sees_every_sample(
    stream, pretrained_path, monkeypatch
):
    solves = []
    solve = torch.linalg.solve
    monkeypatch.setattr(torch.linalg, "solve", lambda *a: solves.append(1) or solve(*a))
    strategy = ranpac(pretrained_path, train_mb_size=7, evaluator=None)
    for experience in stream.train_stream:
        strategy.train(experience)
    assert len(solves) == 3  # one per experience, when its classes arrived
    strategy.model.eval()
    x = stream.train_stream[0].dataset.x[:5]
    before = strategy.model.classifier.training_scores(strategy.model.features(x))
    assert not torch.equal(strategy.model(x), before)  # solved with the last experience
    assert len(solves) == 4


def test_first_session_adaptation_trains_only_the_ssf_parameters_and_only_once(
    stream, pretrained_path
):
    strategy = ranpac(pretrained_path, evaluator=None)
    model = strategy.model
    ssf = {f"adapter.{name}" for name, _ in model.adapter.named_parameters()}
    assert ssf and not any(p.requires_grad for p in model.parameters())
    x = stream.test_stream[0].dataset.x
    pretrained = model.features(x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    strategy.train(stream.train_stream[0])
    after = {k: v.clone() for k, v in model.state_dict().items()}
    changed = {k for k, v in before.items() if not torch.equal(after[k], v)}
    assert ssf | {"adapter.done"} <= changed  # every scale and shift moved
    assert all(k.startswith(("adapter.", "classifier.")) for k in changed)  # no weight
    assert not torch.allclose(model.features(x), pretrained, atol=1e-3)
    for experience in stream.train_stream[1:]:
        strategy.train(experience)
    final = model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in after.items() if not k.startswith("class"))
    assert not any(p.requires_grad for p in model.parameters())
    skipped = ranpac(pretrained_path, adapt_epochs=0)
    assert skipped.model.adapter is None
    torch.testing.assert_close(skipped.model.features(x), pretrained)  # the pretrained ViT


def test_beats_naive_finetuning_of_the_same_backbone(stream, pretrained_path):
    strategy = ranpac(pretrained_path)
    assert_beats_naive(strategy, stream, pretrained_path, margin=0.25)


def test_resumes_exactly(stream, pretrained_path):
    resumed = assert_resumes(lambda: ranpac(pretrained_path), stream.train_stream, split=1)
    assert resumed.model.classifier.cross.shape == (256, stream.n_classes)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"projection_size": 0}, "projection_size"),
        ({"ridge": 0.0}, "ridge"),
        ({"adapt_epochs": -1}, "adapt_epochs"),
        ({"adapt_lr": 0.0}, "adapt_lr"),
    ],
)
def test_bad_parameters_are_refused(options, message):
    with pytest.raises(ParameterError, match=message):
        RanPAC(model=torch.nn.Identity(), **options)


def test_readme_example_runs():
    run_readme_examples(Path(__file__).parents[1] / "README.md")


def test_clhost_run_with_a_local_vit_checkpoint_offline(pretrained_path, tmp_path):
    from clhost_pretrained.testing import run_offline

    results = run_offline("ranpac", pretrained_path, tmp_path, "-p", "projection_size=512")
    assert results["average_accuracy"] > 0.7
