from pathlib import Path

import pytest
import torch

from clhost.testing import assert_resumes, run_readme_examples
from clhost_pretrained.testing import assert_beats_naive, pretrained_vit, texture_stream
from clhost_simplecil import PrototypeClassifier, SimpleCIL


@pytest.fixture(scope="module")
def stream():
    return texture_stream()


def test_prototypes_are_the_class_means_of_the_frozen_features(stream, pretrained_path):
    strategy = SimpleCIL(model=pretrained_vit(pretrained_path), train_mb_size=7)
    before = {k: v.clone() for k, v in strategy.model.backbone.state_dict().items()}
    for experience in stream.train_stream:
        strategy.train(experience)
    reference = pretrained_vit(pretrained_path).eval()
    data = stream.train_stream
    x = torch.cat([e.dataset.x for e in data])
    y = torch.cat([e.dataset.y for e in data])
    with torch.no_grad():
        features = reference(x).double()
    means = torch.stack([features[y == c].mean(0) for c in range(stream.n_classes)])
    torch.testing.assert_close(strategy.model.classifier.prototypes, means)
    assert strategy.model.classifier.counts.tolist() == torch.bincount(y).tolist()
    after = strategy.model.backbone.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())  # nothing trained


def test_scores_are_cosine_similarities_and_unseen_classes_lose():
    classifier = PrototypeClassifier()
    classifier.resize(2, 3)
    classifier.fit(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
    scores = classifier(torch.tensor([[1.0, 1.0]]))
    torch.testing.assert_close(scores[0, :2], torch.tensor([2**-0.5, 2**-0.5]))
    assert scores[0, 2] < scores[0, :2].min()


def test_beats_naive_finetuning_of_the_same_backbone(stream, pretrained_path):
    strategy = SimpleCIL(model=pretrained_vit(pretrained_path))
    assert_beats_naive(strategy, stream, pretrained_path, margin=0.25)


def test_resumes_exactly(stream, pretrained_path):
    def build():
        return SimpleCIL(model=pretrained_vit(pretrained_path), evaluator=None)

    resumed = assert_resumes(build, stream.train_stream, split=1)
    assert resumed.model.classifier.prototypes.shape == (stream.n_classes, 64)


def test_builds_its_backbone_by_timm_name_from_local_weights(pretrained_path):
    from clhost.errors import ParameterError

    with pytest.raises(ParameterError, match="pretrained=True needs pretrained_path"):
        SimpleCIL(model_name="vit_tiny_patch16_224")
    strategy = SimpleCIL(model_name="vit_small_patch16_224", pretrained=False)
    assert strategy.model.backbone.embed_dim == 384


def test_bf16_and_channels_last_keep_the_prototypes_close(stream, pretrained_path):
    plain = SimpleCIL(model=pretrained_vit(pretrained_path), evaluator=None)
    fast = SimpleCIL(
        model=pretrained_vit(pretrained_path), bf16=True, channels_last=True, evaluator=None
    )
    for strategy in (plain, fast):
        strategy.train(stream.train_stream[0])
    a, b = plain.model.classifier.prototypes, fast.model.classifier.prototypes
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.99


def test_readme_example_runs():
    run_readme_examples(Path(__file__).parents[1] / "README.md")


def test_clhost_run_with_a_local_vit_checkpoint_offline(pretrained_path, tmp_path):
    from clhost_pretrained.testing import run_offline

    results = run_offline("simplecil", pretrained_path, tmp_path)
    assert results["average_accuracy"] > 0.7


def test_clhost_run_resizes_split_cifar100_files_on_the_device(tmp_path, monkeypatch):
    import json

    import torchvision.datasets.cifar
    from click.testing import CliRunner

    from clhost.cli import main
    from clhost_pretrained.testing import TINY_VIT, TINY_VIT_KWARGS, tiny_vit, write_cifar100

    monkeypatch.setattr(  # the test's files are not the real ones torchvision's checksums know
        torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: Path(path).is_file()
    )
    root = write_cifar100(tmp_path / "data")
    sizes = {**TINY_VIT_KWARGS, "img_size": 48, "patch_size": 12}  # CIFAR's 32 resized to 48
    torch.save(tiny_vit(**sizes).state_dict(), tmp_path / "vit.pth")
    spec = ",".join(f"{key}={value}" for key, value in sizes.items())
    model = f"vit:model_name={TINY_VIT},{spec},pretrained_path={tmp_path / 'vit.pth'}"
    run = ["run", "--strategy", "simplecil", "-q", "--model", f"{model},resize_inputs=true"]
    cifar = f"split-cifar100:n_experiences=2,root={root}"
    output = ["--output", str(tmp_path / "run")]
    result = CliRunner().invoke(main, [*run, "--benchmark", f"{cifar},normalize=false", *output])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert 0.0 <= results["average_accuracy"] <= 1.0
    refused = CliRunner().invoke(main, [*run, "--benchmark", cifar])  # normalised by CIFAR's
    assert refused.exit_code == 1 and "normalize=False" in refused.output
