"""Expert Gate: the gate's choice, the relatedness, the expert's initialisation, that old
experts never change, its state, and that it beats finetuning without test task labels."""

from __future__ import annotations

import copy
import math
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from clhost import hookimpl
from clhost.benchmarks import split_digits
from clhost.cli import main
from clhost.data import Benchmark, Experience, Stream
from clhost.errors import ParameterError, PluginCompositionError, UnknownNameError
from clhost.models import SimpleMLP, adapt_model
from clhost.testing import (
    assert_refuses,
    assert_resumes,
    average_accuracy,
    run_readme_examples,
    toy_benchmark,
)
from clhost_expert_gate import (
    ExpertGate,
    ExpertGatePlugin,
    ExpertGateStrategy,
    GateAutoencoder,
    most_related,
    relatedness,
)


def constant_autoencoder(width: int, value: float) -> GateAutoencoder:
    """An autoencoder whose reconstruction is ``value`` everywhere."""
    autoencoder = GateAutoencoder(width, 3)
    with torch.no_grad():
        autoencoder.decoder[0].weight.zero_()
        autoencoder.decoder[0].bias.fill_(math.log(value / (1 - value)))
    return autoencoder


def identity_gate(n_experts: int) -> ExpertGate:
    """An ExpertGate on 2 features whose gate codes are ``sigmoid(x)`` (the backbone's
    body is a flatten), with ``n_experts`` experts of classes (0, 1), (2, 3) ..."""
    model = ExpertGate(nn.Sequential(nn.Flatten(), nn.Linear(2, 4)), num_classes=2 * n_experts)
    stream = toy_benchmark(n_experiences=n_experts, n_features=2).train_stream
    for experience in stream:
        adapt_model(model, experience)
    return model.eval()


def test_the_gate_sends_each_sample_to_the_expert_reconstructing_it_best():
    torch.manual_seed(0)
    model = identity_gate(2)
    model.autoencoders[0] = constant_autoencoder(2, 0.2)
    model.autoencoders[1] = constant_autoencoder(2, 0.8)
    logit = math.log(0.2 / 0.8)
    x = torch.tensor([[logit, logit], [-logit, -logit], [-logit, logit * 0.5]])
    codes = torch.sigmoid(x)
    errors = torch.stack([((codes - c) ** 2).sum(1) for c in (0.2, 0.8)], 1)
    expected = torch.softmax(-errors / model.temp, 1)
    assert torch.allclose(model.gate(x), expected)
    assert model.gate(x).argmax(1).tolist() == [0, 1, 1]
    with torch.no_grad():
        output = model(x)
        assert torch.equal(output[:1], model.experts[0](x[:1]))
        assert torch.equal(output[1:], model.experts[1](x[1:]))
    assert output[0, 2:].eq(torch.finfo(output.dtype).min).all()  # expert 0: classes 0, 1


def test_relatedness_is_the_papers_formula_and_picks_the_most_related():
    assert relatedness(own_error=2.0, other_error=3.0) == pytest.approx(0.5)
    assert relatedness(own_error=2.0, other_error=2.0) == 1.0
    codes = torch.full((4, 2), 0.5)
    autoencoders = [constant_autoencoder(2, v) for v in (0.9, 0.3, 0.6, 0.55)]
    own = 2 * 0.05**2  # the new task's autoencoder (the last) on its own data
    related, score = most_related(autoencoders, codes)
    assert related == 2  # 0.6 reconstructs 0.5 better than 0.9 and 0.3
    assert score == pytest.approx(1 - (2 * 0.1**2 - own) / own, rel=1e-4)


class Snapshots:
    """Records the newest expert right after Expert Gate initialised it."""

    def __init__(self) -> None:
        self.initial: list[dict[str, torch.Tensor]] = []

    @hookimpl
    def clhost_before_training_epoch(self, strategy) -> None:
        if strategy.clock.train_exp_epochs == 0:
            self.initial.append(copy.deepcopy(strategy.model.experts[-1].state_dict()))


def repeated_stream() -> Benchmark:
    """Three experiences: classes 0-1, classes 2-3, then classes 0-1 again (a task most
    related to the first)."""
    toy = toy_benchmark(n_experiences=2, n_features=8)

    def stream(source: Stream) -> Stream:
        first, second = source
        experiences = [
            Experience(e.dataset, i, source.name, e.classes_in_this_experience, (0,))
            for i, e in enumerate((first, second, first))
        ]
        return Stream(source.name, experiences)

    return Benchmark(
        name="repeated",
        train_stream=stream(toy.train_stream),
        test_stream=stream(toy.test_stream),
        n_classes=4,
        input_shape=(8,),
    )


# autoencoders trained long enough on the toy stream that the repeated task is related
# (relatedness about 1.2, above the default rel_thresh of 0.85) and the other is not
# (about -20)
TOY_GATE = {"ae_lr": 0.003, "ae_train_epochs": 20}


def gate_strategy(model: ExpertGate, plugins=(), **options) -> ExpertGateStrategy:
    return ExpertGateStrategy(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        train_mb_size=16,
        evaluator=None,
        plugins=list(plugins),
        **options,
    )


def test_a_new_expert_starts_from_the_most_related_and_old_ones_never_change():
    torch.manual_seed(0)
    model = ExpertGate(in_features=8, hidden_size=32, num_classes=4, ae_latent_dim=8)
    snapshots = Snapshots()
    strategy = gate_strategy(model, [snapshots], train_epochs=2, **TOY_GATE)
    finished = []
    for experience in repeated_stream().train_stream:
        strategy.train(experience)
        finished.append(
            copy.deepcopy((model.experts.state_dict(), model.autoencoders.state_dict()))
        )
    first, second, third = model.experts
    assert int(second.teacher) == -1 and int(third.teacher) == 0  # related: LwF from it
    start = snapshots.initial[2]
    for name in first.state_dict():
        if name.startswith("body."):
            assert torch.equal(start[name], finished[0][0][f"0.{name}"]), name
    assert torch.equal(start["old_head.weight"], finished[0][0]["0.head.weight"])
    assert not torch.equal(snapshots.initial[1]["head.weight"], finished[0][0]["0.head.weight"])
    experts, autoencoders = model.experts.state_dict(), model.autoencoders.state_dict()
    for index, (old_experts, old_autoencoders) in enumerate(finished):
        for name, value in old_experts.items():
            if name.startswith(f"{index}."):
                assert torch.equal(experts[name], value), name
        for name, value in old_autoencoders.items():
            if name.startswith(f"{index}."):
                assert torch.equal(autoencoders[name], value), name


def test_lwf_distils_the_related_experts_outputs():
    torch.manual_seed(0)
    model = ExpertGate(in_features=8, hidden_size=32, num_classes=4, ae_latent_dim=8)
    terms = []

    class Terms:
        @hookimpl
        def clhost_before_backward(self, strategy) -> None:
            terms.append(strategy.loss_terms.get("lwf"))

    strategy = gate_strategy(model, [Terms()], train_epochs=2, **TOY_GATE)
    for experience in repeated_stream().train_stream:
        terms.clear()
        strategy.train(experience)
    assert int(model.experts[2].teacher) == 0
    assert all(term is not None for term in terms)
    assert terms[0].item() == pytest.approx(0.0, abs=1e-6)  # the copy starts identical
    assert max(term.item() for term in terms) > 0


def test_registered_and_beats_finetuning_without_task_labels_at_test_time():
    assert entry_points(group="clhost.strategies")["expert-gate"].load() is ExpertGateStrategy
    benchmark = split_digits(task_labels=True)
    options = {"lr": 0.05, "train_epochs": 5, "train_mb_size": 32}
    strategy_accuracy = average_accuracy(
        ExpertGateStrategy, benchmark=benchmark, model=lambda: ExpertGate(in_features=64), **options
    )
    naive = average_accuracy(
        benchmark=benchmark, model=lambda: SimpleMLP(10, 64, (256,)), **options
    )
    torch.manual_seed(0)
    model = ExpertGate(in_features=64)
    strategy = gate_strategy(model, train_epochs=5)
    for experience in benchmark.train_stream:
        strategy.train(experience)
    x = torch.cat([e.dataset.tensors[0] for e in benchmark.test_stream])
    y = torch.cat([e.dataset.tensors[1] for e in benchmark.test_stream])
    model.eval()
    with torch.no_grad():
        no_labels = (model(x).argmax(1) == y).float().mean().item()  # x alone: no task label
    assert strategy_accuracy > naive + 0.4 and no_labels > naive + 0.4, (
        strategy_accuracy,
        no_labels,
        naive,
    )


def test_resumes_exactly_with_its_experts_and_autoencoders_regrown():
    def build():
        model = ExpertGate(in_features=8, hidden_size=16, num_classes=4, ae_latent_dim=4)
        return gate_strategy(model, **TOY_GATE)

    resumed = assert_resumes(build, repeated_stream().train_stream, split=2)
    assert len(resumed.model.experts) == 3 and int(resumed.model.experts[2].teacher) == 0


def test_a_torchvision_backbone_with_weights_from_a_local_file(tmp_path):
    from torchvision.models import mobilenet_v3_small

    torch.manual_seed(0)
    source = mobilenet_v3_small(num_classes=4)
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    model = ExpertGate(
        "mobilenet_v3_small", pretrained_weights=path, num_classes=4, input_shape=(1, 8, 8)
    )
    assert torch.equal(model.features[1].features[0][0].weight, source.features[0][0].weight)
    adapt_model(model, toy_benchmark(n_features=64).train_stream[0])
    with torch.no_grad():
        assert model.eval()(torch.rand(3, 64)).shape == (3, 4)
    with pytest.raises(ParameterError, match="cannot read"):
        ExpertGate("mobilenet_v3_small", pretrained_weights=tmp_path / "absent.pt")
    with pytest.raises(UnknownNameError, match="resnet18"):
        ExpertGate("resnet_18")


def test_bad_parameters_and_impossible_combinations_are_refused():
    assert_refuses(
        ExpertGate,
        {"num_classes": 0},
        {"temp": 0},
        {"ae_latent_dim": -1},
        ({"backbone": 3}, "backbone must be"),
    )
    assert_refuses(ExpertGatePlugin, {"ae_lr": 0}, {"ae_train_epochs": 0}, {"lwf_alpha": -1})
    with pytest.raises(ParameterError, match="trains an ExpertGate model"):
        ExpertGateStrategy(
            model=SimpleMLP(), optimizer=torch.optim.SGD(SimpleMLP().parameters(), lr=1)
        )
    model = ExpertGate(in_features=8, num_classes=2)
    with pytest.raises(ParameterError, match="num_classes=2"):
        gate_strategy(model).train(toy_benchmark(n_experiences=2).train_stream[1])

    class OtherClasses:  # what a replay plugin does: samples of other classes join in
        @hookimpl
        def clhost_before_training_iteration(self, strategy) -> None:
            x, y, *rest = strategy.mbatch
            strategy.mbatch = (x, (y + 2) % 4, *rest)

    model = ExpertGate(in_features=8, num_classes=4)
    with pytest.raises(PluginCompositionError, match="its own task's data only"):
        gate_strategy(model, [OtherClasses()]).train(toy_benchmark().train_stream[0])


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--benchmark", "split-digits:task_labels=true"],
        pytest.param(  # composes: old experts never move, so no penalty
            ["--plugin", "ewc:ewc_lambda=10"],
            marks=pytest.mark.skipif(not find_spec("clhost_ewc"), reason="needs clhost-ewc"),
        ),
    ],
)
def test_clhost_run_trains_it_with_the_defaults(extra):
    arguments = ["run", "--strategy", "expert-gate", "--epochs", "1", "-q", *extra]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert float(result.output.split("Average accuracy")[1].split()[0]) > 0.6  # naive: 0.2
    assert "Hooks, in firing order" in CliRunner().invoke(main, ["info", "expert-gate"]).output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    torch.manual_seed(0)
    model = ExpertGate(in_features=8, hidden_size=32, num_classes=4, ae_latent_dim=8)
    strategy = gate_strategy(model, device="cuda", **TOY_GATE)
    for experience in repeated_stream().train_stream:
        strategy.train(experience)
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    assert int(model.experts[2].teacher) == 0
    x = torch.cat([e.dataset.tensors[0] for e in repeated_stream().test_stream]).cuda()
    with torch.no_grad():
        assert model.eval()(x).is_cuda


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).parents[1] / "README.md")
