"""Metrics: Avalanche's keys exactly, and the values they are defined to hold."""

from __future__ import annotations

import pytest
import torch

from clhost.errors import ParameterError
from clhost_avalanche import training
from clhost_avalanche._exports import NotSupported
from clhost_avalanche.benchmarks import tensors_benchmark
from clhost_avalanche.evaluation.metrics import (
    accuracy_metrics,
    bwt_metrics,
    confusion_matrix_metrics,
    forgetting_metrics,
    forward_transfer_metrics,
)
from clhost_avalanche.models import SimpleMLP
from clhost_avalanche.training.plugins import EvaluationPlugin


def test_metric_keys_equal_avalanches_for_the_same_evaluator(run_script, reference):
    assert run_script("metrics").json("KEYS") == reference["metrics_keys"]


def two_tasks() -> tuple:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(80, 8, generator=generator)
    y = torch.arange(4).repeat_interleave(20)
    x = x + 3 * torch.nn.functional.one_hot(y, 8).float()
    halves = [(x[:40], y[:40]), (x[40:], y[40:])]
    return tensors_benchmark(halves, halves, task_labels=[0, 0])


def run(*metrics, eval_every: int = -1) -> tuple[dict, EvaluationPlugin]:
    evaluator = EvaluationPlugin(accuracy_metrics(experience=True), *metrics, loggers=[])
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_size=16, drop_rate=0.0)
    strategy = training.Naive(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        train_mb_size=8,
        train_epochs=3,
        evaluator=evaluator,
        eval_every=eval_every,
    )
    bench = two_tasks()
    strategy.eval(bench.test_stream)
    for experience in bench.train_stream:
        strategy.train(experience)
        results = strategy.eval(bench.test_stream)
    return results, evaluator


def test_forgetting_is_the_drop_since_training_and_bwt_its_negation():
    results, evaluator = run(
        forgetting_metrics(experience=True, stream=True), bwt_metrics(stream=True)
    )
    history = evaluator.get_all_metrics()["Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp000"][1]
    before, after_first, after_second = history  # untrained, after exp 0, after exp 1
    forgetting = results["ExperienceForgetting/eval_phase/test_stream/Task000/Exp000"]
    assert forgetting == pytest.approx(after_first - after_second) and forgetting > 0.5
    # the stream value averages the experiences with a value: only experience 0 has one
    assert results["StreamForgetting/eval_phase/test_stream"] == pytest.approx(forgetting)
    assert results["StreamBWT/eval_phase/test_stream"] == pytest.approx(-forgetting)
    assert "ExperienceForgetting/eval_phase/test_stream/Task000/Exp001" not in results


def test_forward_transfer_compares_with_the_first_evaluation():
    results, evaluator = run(forward_transfer_metrics(experience=True), eval_every=0)
    history = evaluator.get_all_metrics()["Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp001"][1]
    transfer = results["ExperienceForwardTransfer/eval_phase/test_stream/Task000/Exp001"]
    assert transfer == pytest.approx(history[1] - history[0])
    with pytest.raises(ParameterError, match="eval_every >= 0"):
        run(forward_transfer_metrics(stream=True))


def test_the_confusion_matrix_counts_every_test_sample():
    results, _ = run(confusion_matrix_metrics(num_classes=4, save_image=False, stream=True))
    matrix = results["ConfusionMatrix_Stream/eval_phase/test_stream"]
    assert matrix.shape == (4, 4) and int(matrix.sum()) == 80
    assert matrix.sum(dim=1).tolist() == [20, 20, 20, 20]
    with pytest.raises(NotSupported, match="save_image=False"):
        confusion_matrix_metrics(stream=True)


def test_unsupported_metric_options_fail_with_one_line():
    with pytest.raises(NotSupported, match="trained_experience"):
        accuracy_metrics(trained_experience=True)
    with pytest.raises(NotSupported, match="strict_checks"):
        EvaluationPlugin(strict_checks=True)
