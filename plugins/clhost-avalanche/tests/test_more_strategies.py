"""The mappings the strategies beyond model-and-optimizer need (``scripts/more_strategies.py``
runs them all against Avalanche): CoPE's required criterion, SCR's model and default
augmentation, MIR's memory, PNN's model, the online stream CoPE is meant for."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from clhost.testing import gaussian_blobs
from clhost_avalanche import training
from clhost_avalanche._exports import NotSupported
from clhost_avalanche.benchmarks import nc_benchmark, split_online_stream
from clhost_avalanche.evaluation.metrics import accuracy_metrics
from clhost_avalanche.models import PNN, SCRModel, SimpleMLP
from clhost_avalanche.training.plugins import EvaluationPlugin


@pytest.fixture
def benchmark():
    train, test = gaussian_blobs(4, 20, 8, seed=1)
    return nc_benchmark((train.x, train.y), (test.x, test.y), 2, task_labels=False, shuffle=False)


def quiet() -> EvaluationPlugin:
    return EvaluationPlugin(accuracy_metrics(stream=True), loggers=[])


def mlp() -> SimpleMLP:
    torch.manual_seed(0)
    return SimpleMLP(num_classes=4, input_size=8, hidden_size=16, drop_rate=0.0)


def test_cope_takes_the_criterion_avalanche_requires_and_trains_with_its_ppp_loss(benchmark):
    model = mlp()
    given = torch.nn.CrossEntropyLoss()
    strategy = training.CoPE(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        criterion=given,
        n_classes=4,
        p_size=4,
        mem_size=20,
        evaluator=quiet(),
    )
    assert strategy._criterion is not given
    online = split_online_stream(benchmark.train_stream, 10, shuffle=False)
    for experience in online[:3]:  # classes 0, 0, 1
        strategy.train(experience)
    assert strategy.plugins[0].prototypes.known.tolist() == [True, True, False, False]


def test_split_online_stream_cuts_avalanches_mini_experiences(benchmark):
    online = split_online_stream(benchmark.train_stream, 15, shuffle=False)
    assert [len(e.dataset) for e in online] == [15, 15, 10, 15, 15, 10]
    with pytest.raises(NotSupported, match="experience_split_strategy"):
        split_online_stream(benchmark.train_stream, 15, experience_split_strategy=len)


def test_scr_model_projects_the_normalised_features_as_avalanches():
    features, head = torch.nn.Linear(8, 6), torch.nn.Linear(6, 3)
    model = SCRModel(features, head).train()
    x = torch.randn(5, 8)
    expected = F.normalize(head(F.normalize(features(x), dim=1)), dim=1)
    assert torch.allclose(model(x), expected)
    assert torch.allclose(model.eval()(x), F.normalize(features(x), dim=1))


def test_scr_defaults_to_avalanches_identity_augmentation():
    base = mlp()
    model = SCRModel(base.features, torch.nn.Linear(16, 8))
    strategy = training.SCR(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), evaluator=quiet()
    )
    x = torch.randn(4, 8)
    assert torch.equal(strategy.plugins[0].augment(x), x)


def test_mir_keeps_avalanches_class_balanced_memory():
    model = mlp()
    strategy = training.MIR(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        criterion=torch.nn.CrossEntropyLoss(),
        mem_size=20,
        subsample=10,
        evaluator=quiet(),
    )
    assert strategy.plugins[0].memory == "class_balanced"


def test_pnn_is_clhosts():
    from clhost_pnn import PNN as NativePNN

    assert PNN is NativePNN


def test_ar1_without_a_backbone_is_refused_not_trained_on_random_weights():
    with pytest.raises(NotSupported, match="MobileNetV1") as error:
        training.AR1()
    assert "\n" not in str(error.value)
