"""NCMClassifier: hand-checked scores, classes without a mean, mean updates, state."""

import math

import pytest
import torch

from clhost.errors import ParameterError
from clhost.models import NCMClassifier
from clhost.models.ncm import UNKNOWN_CLASS_MARGIN


def test_scores_are_negative_distances_between_normalised_features_and_means():
    ncm = NCMClassifier()
    ncm.replace_class_means_dict({0: torch.tensor([2.0, 0.0]), 2: torch.tensor([0.0, 5.0])})
    scores = ncm(torch.tensor([[3.0, 1.0], [-1.0, 4.0]]))
    # (3, 1) / sqrt(10) is at distance sqrt(2 - 2 * 3 / sqrt(10)) from (1, 0) and
    # sqrt(2 - 2 * 1 / sqrt(10)) from (0, 1).
    first = [-math.sqrt(2 - 6 / math.sqrt(10)), -math.sqrt(2 - 2 / math.sqrt(10))]
    second = [-math.sqrt(2 + 2 / math.sqrt(17)), -math.sqrt(2 - 8 / math.sqrt(17))]
    torch.testing.assert_close(scores[:, [0, 2]], torch.tensor([first, second]))
    assert scores.argmax(dim=1).tolist() == [0, 2]
    # class 1 has no mean: far below every known score, but finite
    torch.testing.assert_close(scores[:, 1], scores[:, [0, 2]].min(dim=1).values - 1e4)
    assert UNKNOWN_CLASS_MARGIN == 1e4


def test_without_normalisation_the_raw_euclidean_distance_decides():
    ncm = NCMClassifier(normalize=False)
    ncm.replace_class_means_dict({0: torch.tensor([1.0, 0.0]), 1: torch.tensor([10.0, 0.0])})
    scores = ncm(torch.tensor([[8.0, 0.0]]))
    torch.testing.assert_close(scores, torch.tensor([[-7.0, -2.0]]))
    normalised = NCMClassifier()
    normalised.replace_class_means_dict(ncm.class_means_dict)
    assert normalised(torch.tensor([[8.0, 0.0]]))[0, 0] == 0


def test_update_blends_known_classes_and_adds_new_ones():
    ncm = NCMClassifier()
    ncm.replace_class_means_dict({1: torch.tensor([1.0, 0.0])})
    ncm.update_class_means_dict({1: torch.tensor([0.0, 1.0]), 3: torch.tensor([2.0, 2.0])}, 0.75)
    means = ncm.class_means_dict
    assert sorted(means) == [1, 3] and ncm.known_classes == [1, 3]
    torch.testing.assert_close(means[1], torch.tensor([0.75, 0.25]))
    torch.testing.assert_close(means[3], torch.tensor([2.0, 2.0]))
    ncm.replace_class_means_dict({0: torch.tensor([1.0, 1.0])})
    assert ncm.known_classes == [0]


def test_state_round_trip_restores_a_different_number_of_classes():
    ncm = NCMClassifier()
    ncm.replace_class_means_dict({0: torch.tensor([1.0, 0.0, 0.0]), 4: torch.ones(3)})
    restored = NCMClassifier()
    restored.load_state_dict(ncm.state_dict())
    x = torch.randn(5, 3)
    torch.testing.assert_close(restored(x), ncm(x))
    assert restored.known_classes == [0, 4]


def test_bad_input_gets_clear_errors():
    ncm = NCMClassifier()
    with pytest.raises(RuntimeError, match="no class means"):
        ncm(torch.zeros(1, 2))
    with pytest.raises(ParameterError, match="class ids"):
        ncm.replace_class_means_dict({-1: torch.zeros(2)})
    with pytest.raises(ParameterError, match="momentum"):
        ncm.update_class_means_dict({0: torch.zeros(2)}, momentum=1.5)
    with pytest.raises(ValueError, match="same size"):
        ncm.replace_class_means_dict({0: torch.zeros(2), 1: torch.zeros(3)})
    ncm.replace_class_means_dict({0: torch.ones(2)})
    with pytest.raises(ValueError, match="dimensions"):
        ncm(torch.zeros(1, 3))
    with pytest.raises(ParameterError, match="normalize"):
        NCMClassifier(normalize="yes")
