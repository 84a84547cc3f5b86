"""Metric definitions checked against accuracy matrices computed by hand."""

import math

import pytest
import torch

from clhost.evaluation import metrics

NAN = float("nan")

# Three experiences, with forgetting and some forward transfer.
R3 = [
    [0.9, 0.1, 0.0],
    [0.6, 0.8, 0.2],
    [0.5, 0.7, 0.9],
]
B3 = [0.3, 0.1, 0.05]


def test_average_accuracy_is_the_mean_of_the_last_row():
    assert metrics.average_accuracy(R3) == pytest.approx((0.5 + 0.7 + 0.9) / 3)
    assert metrics.average_accuracy(R3, seen_only=True) == pytest.approx(0.7)
    assert metrics.average_accuracy_curve(R3) == pytest.approx([0.9, 0.7, 0.7])
    assert metrics.average_accuracy_curve(R3, seen_only=False) == pytest.approx(
        [1.0 / 3, 1.6 / 3, 0.7]
    )


def test_forgetting_uses_the_best_earlier_accuracy():
    # j=0: max(0.9, 0.6) - 0.5 = 0.4; j=1: max(0.1, 0.8) - 0.7 = 0.1
    assert metrics.forgetting_per_experience(R3) == pytest.approx([0.4, 0.1])
    assert metrics.forgetting(R3) == pytest.approx(0.25)


def test_backward_transfer_compares_with_the_accuracy_just_after_learning():
    # j=0: 0.5 - 0.9; j=1: 0.7 - 0.8
    assert metrics.backward_transfer_per_experience(R3) == pytest.approx([-0.4, -0.1])
    assert metrics.backward_transfer(R3) == pytest.approx(-0.25)


def test_forward_transfer_compares_with_the_untrained_model():
    # j=1: R[0][1] - b1 = 0.1 - 0.1; j=2: R[1][2] - b2 = 0.2 - 0.05
    assert metrics.forward_transfer_per_experience(R3, B3) == pytest.approx([0.0, 0.15])
    assert metrics.forward_transfer(R3, B3) == pytest.approx(0.075)


def test_forgetting_and_bwt_differ_when_accuracy_peaks_later():
    # Experience 0 improves while learning experience 1, then drops.
    matrix = [
        [0.5, 0.0, 0.0],
        [0.8, 0.6, 0.0],
        [0.4, 0.6, 0.7],
    ]
    # forgetting j=0: 0.8 - 0.4, j=1: 0.6 - 0.6; BWT j=0: 0.4 - 0.5, j=1: 0
    assert metrics.forgetting(matrix) == pytest.approx(0.2)
    assert metrics.backward_transfer(matrix) == pytest.approx(-0.05)


def test_positive_backward_transfer_is_negative_forgetting():
    matrix = [[0.5, 0.0], [0.7, 0.9]]
    assert metrics.backward_transfer(matrix) == pytest.approx(0.2)
    assert metrics.forgetting(matrix) == pytest.approx(-0.2)


def test_a_run_stopped_early_has_fewer_rows_than_columns():
    matrix = [[0.9, 0.2, 0.1], [0.5, 0.8, 0.3]]
    assert metrics.average_accuracy(matrix) == pytest.approx(1.6 / 3)
    assert metrics.average_accuracy(matrix, seen_only=True) == pytest.approx(0.65)
    assert metrics.forgetting(matrix) == pytest.approx(0.4)
    assert metrics.backward_transfer(matrix) == pytest.approx(-0.4)
    # j=1: R[0][1] - 0; j=2: R[1][2] - 0 (a column j needs the row j-1 only)
    assert metrics.forward_transfer(matrix, [0.0, 0.0, 0.0]) == pytest.approx(0.25)


def test_a_single_experience_leaves_forgetting_and_transfer_undefined():
    matrix = [[0.8]]
    assert metrics.average_accuracy(matrix) == pytest.approx(0.8)
    assert math.isnan(metrics.forgetting(matrix))
    assert math.isnan(metrics.backward_transfer(matrix))
    assert math.isnan(metrics.forward_transfer(matrix, [0.1]))
    assert metrics.forgetting_per_experience(matrix) == []


def test_one_row_over_two_test_experiences_has_forward_transfer_only():
    matrix = [[0.8, 0.1]]
    assert math.isnan(metrics.forgetting(matrix))
    assert metrics.forward_transfer(matrix, [0.5, 0.05]) == pytest.approx(0.05)


def test_no_training_and_no_baseline_are_undefined():
    assert math.isnan(metrics.average_accuracy([]))
    assert math.isnan(metrics.forgetting([]))
    assert math.isnan(metrics.forward_transfer(R3, None))


def test_unevaluated_entries_are_skipped_by_the_maximum_only():
    # Only seen experiences evaluated: the upper triangle is nan.
    matrix = [[0.9, NAN], [0.6, 0.8]]
    assert metrics.forgetting(matrix) == pytest.approx(0.3)
    assert metrics.backward_transfer(matrix) == pytest.approx(-0.3)
    assert math.isnan(metrics.forward_transfer(matrix, [0.1, 0.2]))
    assert math.isnan(metrics.average_accuracy([[0.9, NAN]]))


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.forgetting([[0.1, 0.2], [0.3]])
    with pytest.raises(ValueError, match="initial accuracy has 2 values for 3"):
        metrics.forward_transfer(R3, [0.1, 0.2])


def test_confusion_matrix_counts_targets_by_prediction():
    predictions = torch.tensor([0, 1, 1, 2, 2])
    targets = torch.tensor([0, 1, 2, 2, 2])
    expected = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 1, 2]])
    assert torch.equal(metrics.confusion_matrix(predictions, targets, 3), expected)


def test_mean_of_nothing_is_undefined():
    assert math.isnan(metrics.mean([]))
    assert metrics.mean([0.25, 0.75]) == 0.5
