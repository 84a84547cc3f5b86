"""AR1: the layers below the latent layer are frozen from the second experience on,
stored activations join the batch at the latent layer and count for CWR*, batch
renormalization follows its schedule, the backbone is any torchvision model (weights
only from a local file), the state restores a run exactly, and AR1 beats finetuning on
class-incremental digits."""

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from clhost import hookimpl
from clhost.benchmarks import split_digits
from clhost.cli import main
from clhost.data import Experience, Stream, TensorData
from clhost.errors import ParameterError
from clhost.models import IncrementalMLP
from clhost.models.batch_renorm import BatchRenorm
from clhost.models.freeze import is_frozen
from clhost.testing import (
    assert_resumes,
    average_accuracy,
    run_readme_examples,
    state_round_trip,
    toy_benchmark,
)
from clhost_ar1 import AR1, AR1Plugin
from clhost_synaptic_intelligence import SynapticIntelligencePlugin


def _mlp(classes=6):
    return nn.Sequential(
        nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
        nn.Linear(16, classes),
    )  # fmt: skip


def _ar1(model, **options):
    options = {
        "lr": 0.05, "inc_lr": 0.01, "train_mb_size": 16, "train_epochs": 1,
        "latent_layer_num": 2, **options,
    }  # fmt: skip
    return AR1(model=model, evaluator=None, **options)


def test_layers_below_the_latent_layer_freeze_after_the_first_experience():
    torch.manual_seed(0)
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2)
    strategy = _ar1(_mlp(4))
    model = strategy.model
    assert [name for name, _ in model.lower.named_children()] == ["0", "1", "2"]
    strategy.train(benchmark.train_stream[0])
    assert all(p.requires_grad for p in model.parameters())
    lower, upper = (
        {k: v.clone() for k, v in part.state_dict().items()} for part in (model.lower, model.upper)
    )
    strategy.train(benchmark.train_stream[1])
    for key in ("0.weight", "1.weight", "1.running_mean", "1.running_std"):
        assert torch.equal(model.lower.state_dict()[key], lower[key]), key
    assert all(is_frozen(m) for m in model.lower.modules())
    assert not any(is_frozen(m) for m in model.upper.modules())
    assert not torch.equal(model.upper.state_dict()["3.weight"], upper["3.weight"])
    assert all(group["lr"] == 0.01 for group in strategy.optimizer.param_groups)


class ReplaySpy:
    """Checks, at every forward pass, that replayed activations enter at the latent layer."""

    def __init__(self):
        self.replayed_rows = []

    @hookimpl
    def clhost_before_forward(self, strategy):
        self.replayed = strategy.model.replayed

    @hookimpl
    def clhost_after_forward(self, strategy):
        if self.replayed is None:
            return
        rows, current = len(self.replayed), len(strategy.mb_x)
        assert strategy.mb_output.shape[0] == len(strategy.mb_y) == current + rows
        with torch.no_grad():
            expected = strategy.model.upper(self.replayed)
        assert torch.allclose(strategy.mb_output[current:], expected, atol=1e-6)
        self.replayed_rows.append(rows)


def test_stored_activations_join_at_the_latent_layer_and_count_for_cwr():
    torch.manual_seed(0)
    benchmark = toy_benchmark(n_experiences=3, classes_per_experience=2)  # 100 per experience
    model = nn.Sequential(
        nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 6)
    )
    spy = ReplaySpy()
    strategy = _ar1(model, rm_sz=120, plugins=[spy])
    plugin = strategy.plugins[0]
    strategy.train(benchmark.train_stream[0])
    assert spy.replayed_rows == [] and len(plugin.memory_y) == 100  # rm_sz // 1, capped
    x = benchmark.train_stream[0].dataset.x
    with torch.no_grad():
        latents = strategy.model.lower(x)
    assert any(torch.allclose(plugin.memory_x[0], row) for row in latents)
    strategy.train(benchmark.train_stream[1])
    # 100 current and 100 stored samples: batches of 16 take 8 + 8
    assert plugin.replay_mb_size == 8 and set(spy.replayed_rows) == {8}
    assert sum(spy.replayed_rows) >= 100  # every stored pattern, once per epoch
    assert plugin.current_counts[:4].tolist() == [50, 50, 50, 50]  # 2 replayed classes
    # 120 // 2 = 60 stored: 20 free slots filled, 40 stored patterns replaced
    counts = plugin.memory_y.bincount(minlength=4)
    assert counts[:2].sum() == 60 and counts[2:].sum() == 60
    with torch.no_grad():
        assert torch.allclose(strategy.model.lower(x), latents)  # stored ones stay valid


def test_batch_renormalization_follows_its_schedule():
    torch.manual_seed(0)
    benchmark = toy_benchmark(n_experiences=2, classes_per_experience=2)
    strategy = _ar1(_mlp(4), inc_step=0.01, max_r_max=1.05, max_d_max=0.5, inc_update_rate=0.2)
    renorm = strategy.model.lower[1]
    assert isinstance(renorm, BatchRenorm) and renorm.momentum == 0.01  # init_update_rate
    strategy.train(benchmark.train_stream[0])  # 7 iterations of batches of 16
    assert torch.isclose(renorm.r_max, torch.tensor(1.05))  # capped
    assert torch.isclose(renorm.d_max, torch.tensor(0.07))
    strategy.train(benchmark.train_stream[1])
    assert renorm.momentum == 0.2 and renorm.r_d_max_inc_step == 0.0
    assert torch.isclose(renorm.d_max, torch.tensor(0.5))  # at its maximum


def test_ewc_lambda_adds_synaptic_intelligence_except_on_the_classifier():
    strategy = _ar1(_mlp(4), ewc_lambda=0.5)
    si = strategy.plugins[1]
    assert isinstance(si, SynapticIntelligencePlugin)
    assert si.si_lambda == 0.5 and si.excluded_parameters == ("upper.5",)
    strategy.train(toy_benchmark(n_experiences=2).train_stream)
    assert "si" in strategy.loss_terms


def test_bad_layers_are_refused_with_the_layers_listed():
    with pytest.raises(ParameterError, match=r"has 6 layers \(0 '0' \(Linear\).*got 5"):
        _ar1(_mlp(), latent_layer_num=5)
    with pytest.raises(ParameterError, match="below the latent layer"):
        _ar1(_mlp(), freeze_below_layer="lower.1")
    with pytest.raises(ParameterError, match="cannot run LSTM layer by layer"):
        AR1(model=nn.LSTM(2, 2))
    with pytest.raises(ParameterError, match="needs a LatentReplayModel"):
        AR1Plugin(_mlp())


def _images(n_experiences=2, n=24, size=16):
    generator = torch.Generator().manual_seed(0)
    experiences = []
    for index in range(n_experiences):
        y = torch.arange(2 * index, 2 * index + 2).repeat(n // 2)
        data = TensorData(
            torch.randn(n, 3, size, size, generator=generator) + y.view(-1, 1, 1, 1), y
        )
        experiences.append(
            Experience(data, index, "train", classes_in_this_experience=(2 * index, 2 * index + 1))
        )
    return Stream("train", experiences)


def test_the_default_backbone_is_a_random_mobilenet_v2_cut_at_avalanches_layer(tmp_path):
    torch.manual_seed(0)
    strategy = AR1(num_classes=4, train_mb_size=12, train_epochs=1, rm_sz=10, evaluator=None)
    model = strategy.model
    assert type(model.lower.features[17]).__name__ == "InvertedResidual"  # layer 19
    assert list(model.upper.features) == [model.upper.features[0]]  # features.18
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    strategy.train(_images())
    assert len(strategy.plugins[0].memory_y) == 10
    from torchvision.models import mobilenet_v2

    source = mobilenet_v2(weights=None, num_classes=1000)  # "ImageNet" weights, another head
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    loaded = AR1(num_classes=4, pretrained_weights=str(path)).model
    assert torch.equal(
        loaded.lower.features[3].conv[0][0].weight, source.features[3].conv[0][0].weight
    )
    assert loaded.upper.classifier[1].weight.shape == (4, 1280)
    torch.save({"nothing": torch.zeros(1)}, path)
    with pytest.raises(ParameterError, match="does not fit MobileNetV2"):
        AR1(num_classes=4, pretrained_weights=path)
    with pytest.raises(ParameterError, match="cannot read"):
        AR1(num_classes=4, pretrained_weights=tmp_path / "absent.pt")


def test_the_state_restores_the_run_exactly():
    benchmark = toy_benchmark(n_experiences=3, classes_per_experience=2)

    def build():
        return _ar1(_mlp(), rm_sz=60, ewc_lambda=0.1)

    resumed = assert_resumes(build, benchmark.train_stream, split=2)
    plugin = resumed.plugins[0]
    assert len(plugin.memory_y) == 60 and plugin.past_counts.gt(0).sum() == 6
    restored = state_round_trip(plugin, build().plugins[0])
    assert torch.equal(restored.memory_x, plugin.memory_x)


def _digits_cnn():
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.Flatten(),
        nn.Linear(512, 10),
    )  # fmt: skip


def test_ar1_beats_finetuning_on_class_incremental_digits():
    benchmark = split_digits()
    options = {"benchmark": benchmark, "lr": 0.01, "train_epochs": 4, "train_mb_size": 32}
    naive = average_accuracy(model=_digits_cnn, **options)
    torch.manual_seed(0)
    strategy = AR1(
        model=_digits_cnn(), lr=0.01, inc_lr=0.01, latent_layer_num=3, rm_sz=500, train_mb_size=32
    )
    for experience in benchmark.train_stream:
        strategy.train(experience)
    accuracy = strategy.eval(benchmark.test_stream).accuracy
    assert naive < 0.25
    assert accuracy > naive + 0.5


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    benchmark = toy_benchmark(n_experiences=3, classes_per_experience=2)
    strategy = _ar1(_mlp(), rm_sz=60, ewc_lambda=0.1, train_epochs=4, device="cuda")
    strategy.train(benchmark.train_stream)
    plugin = strategy.plugins[0]
    assert len(plugin.memory_y) == 60 and strategy.model.lower[1].running_std.is_cuda
    test = benchmark.test_stream
    x, y = (torch.cat([e.dataset.tensors[i] for e in test]).cuda() for i in (0, 1))
    strategy.model.eval()
    with torch.no_grad():
        assert (strategy.model(x).argmax(1) == y).float().mean() > 0.5


def test_clhost_run_trains_it_with_the_defaults():
    result = CliRunner().invoke(main, ["run", "--strategy", "ar1", "-q"])
    assert result.exit_code == 0, result.output
    accuracy = float(result.output.split("Average accuracy")[1].split()[0])
    assert accuracy > 0.5  # finetuning: 0.2


def test_a_growing_classifier_grows_under_the_cut_and_resumes():
    benchmark = toy_benchmark(n_experiences=3, classes_per_experience=2)

    def build():
        return AR1(model=IncrementalMLP(8, (16,)), lr=0.05, inc_lr=0.01, rm_sz=60, evaluator=None)

    assert [name for name, _ in build().model.lower.named_children()] == ["features"]
    resumed = assert_resumes(build, benchmark.train_stream, split=1)
    assert resumed.model.upper.classifier.out_features == 6
    assert resumed.plugins[0].past_counts.gt(0).sum() == 6
