"""PNN: its columns and lateral connections, that old columns never change, its state,
and that it does not forget in the task-incremental setting it targets."""

from __future__ import annotations

import copy
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from clhost.benchmarks import split_digits
from clhost.cli import main
from clhost.errors import ParameterError
from clhost.models import MultiHeadMLP, SimpleMLP, adapt_model
from clhost.testing import assert_resumes, average_accuracy, run_readme_examples, toy_benchmark
from clhost_pnn import PNN, LinearAdapter, MLPAdapter, PNNStrategy


def task_stream(n_experiences: int = 3):
    return toy_benchmark(n_experiences=n_experiences, classes_per_experience=2, task_labels=True)


def pnn_strategy(model: PNN, optimizer: str = "adam", **options) -> PNNStrategy:
    if optimizer == "adam":
        optim = torch.optim.Adam(model.parameters(), lr=0.01)
    else:
        optim = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    return PNNStrategy(model=model, optimizer=optim, train_mb_size=16, evaluator=None, **options)


def test_a_column_per_task_with_laterals_from_every_earlier_column():
    model = PNN(num_layers=2, in_features=8, hidden_features_per_column=6)
    for experience in task_stream().train_stream:
        adapt_model(model, experience)
    assert len(model.columns) == 3 and model.task_to_column == {0: 0, 1: 1, 2: 2}
    first, _, third = model.columns
    assert first.layers[1].adapter is None and first.output.adapter is None
    assert isinstance(third.layers[1].adapter, MLPAdapter)
    assert third.layers[1].adapter.V.in_features == 2 * 6  # both earlier columns
    assert third.layers[0].adapter is None  # the input is shared, not lateral
    assert third.out_features == 6  # classes 4 and 5 (global labels)
    linear = PNN(num_layers=2, in_features=8, hidden_features_per_column=6, adapter="linear")
    for experience in task_stream().train_stream:
        adapt_model(linear, experience)
    assert isinstance(linear.columns[2].output.adapter, LinearAdapter)
    assert linear.columns[2].output.linear.in_features == 6 + 2 * 6  # W h + sum_j U_j h_j


def test_a_later_column_reads_the_earlier_ones():
    torch.manual_seed(0)
    model = PNN(num_layers=2, in_features=8, hidden_features_per_column=6, adapter="linear")
    for experience in task_stream(2).train_stream:
        adapt_model(model, experience)
    x, task = torch.randn(5, 8), torch.ones(5, dtype=torch.long)
    before = model(x, task)
    with torch.no_grad():
        model.columns[0].layers[0].linear.weight.add_(1.0)
    assert not torch.allclose(model(x, task), before)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_old_columns_and_their_outputs_never_change_after_their_task(optimizer):
    torch.manual_seed(0)
    model = PNN(num_layers=2, in_features=8, hidden_features_per_column=16)
    stream = task_stream()
    strategy = pnn_strategy(model, optimizer, train_epochs=2)
    snapshots, outputs = [], []
    model.eval()
    for experience in stream.train_stream:
        strategy.train(experience)
        column = model.columns[experience.current_experience]
        snapshots.append(copy.deepcopy(column.state_dict()))
        x, _, t = stream.test_stream[experience.current_experience].dataset.tensors
        with torch.no_grad():
            outputs.append(model(x, t))
    for index, (snapshot, output) in enumerate(zip(snapshots, outputs, strict=True)):
        column = model.columns[index]
        for name, value in column.state_dict().items():
            assert torch.equal(value, snapshot[name]), (index, name)
        x, _, t = stream.test_stream[index].dataset.tensors
        with torch.no_grad():
            assert torch.equal(model(x, t), output), index
    assert not any(p.requires_grad for column in model.columns[:2] for p in column.parameters())
    assert all(p.requires_grad for p in model.columns[2].parameters())


def test_mixed_task_minibatches_go_to_each_tasks_column():
    torch.manual_seed(0)
    model = PNN(num_layers=1, in_features=8, hidden_features_per_column=6).eval()
    for experience in task_stream().train_stream:
        adapt_model(model, experience)
    x, tasks = torch.randn(6, 8), torch.tensor([2, 0, 1, 2, 0, 7])
    mixed = model(x, tasks)
    for task in (0, 1, 2):
        own = model(x[tasks == task], tasks[tasks == task])
        assert torch.equal(mixed[tasks == task, : own.shape[1]], own)
    assert torch.equal(mixed[5, :2], torch.zeros(2))  # a task no column has learned


def test_a_frozen_task_cannot_be_trained_again_and_bad_parameters_are_reported():
    stream = task_stream(2).train_stream
    model = PNN(in_features=8, hidden_features_per_column=4)
    for experience in (*stream, stream[1]):  # the latest task may go on
        adapt_model(model, experience)
    with pytest.raises(ParameterError, match="task 0, whose column is frozen"):
        adapt_model(model, stream[0])
    with pytest.raises(ParameterError, match="inputs have 3 features but in_features is 8"):
        model(torch.zeros(2, 3), torch.ones(2, dtype=torch.long))
    with pytest.raises(ParameterError, match="adapter"):
        PNN(adapter="conv")
    with pytest.raises(ParameterError, match="num_layers"):
        PNN(num_layers=0)
    with pytest.raises(ParameterError, match="PNNStrategy trains a PNN model"):
        PNNStrategy(model=SimpleMLP(), optimizer=torch.optim.SGD(SimpleMLP().parameters(), lr=1))


def test_registered_and_beats_naive_finetuning_task_incrementally():
    assert entry_points(group="clhost.strategies")["pnn"].load() is PNNStrategy
    benchmark = split_digits(task_labels=True)
    options = {"optimizer": "adam", "lr": 0.03, "train_epochs": 10, "train_mb_size": 32}
    pnn = average_accuracy(
        PNNStrategy,
        benchmark=benchmark,
        model=lambda: PNN(in_features=64, hidden_features_per_column=16),
        **options,
    )
    naive = average_accuracy(benchmark=benchmark, model=lambda: MultiHeadMLP(64, (16,)), **options)
    assert pnn > 0.97 and pnn > naive + 0.07, (pnn, naive)


def test_resumes_exactly_with_its_columns_regrown():
    def build():
        return pnn_strategy(PNN(num_layers=2, in_features=8, hidden_features_per_column=8))

    resumed = assert_resumes(build, task_stream().train_stream, split=2)
    assert len(resumed.model.columns) == 3
    assert not any(p.requires_grad for p in resumed.model.columns[1].parameters())


@pytest.mark.parametrize("benchmark", ["split-digits", "split-digits:task_labels=true"])
def test_clhost_run_trains_it_with_the_defaults(benchmark):
    arguments = ["run", "--strategy", "pnn", "--benchmark", benchmark, "--epochs", "1", "-q"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert "Average accuracy" in result.output
    described = CliRunner().invoke(main, ["info", "pnn"])
    assert "Hooks, in firing order" in described.output, described.output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_grows_columns_on_the_device():
    torch.manual_seed(0)
    model = PNN(num_layers=2, in_features=8, hidden_features_per_column=8)
    strategy = pnn_strategy(model, device="cuda")
    strategy.train(task_stream().train_stream)
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    assert len(model.columns) == 3


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).parents[1] / "README.md")
