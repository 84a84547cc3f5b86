"""BasePlugin's default state: the states of its declared ``state_components``."""

import pytest
import torch

from clhost.errors import CheckpointError
from clhost.plugin import SupervisedPlugin
from clhost.testing import state_round_trip


class Counter:
    def __init__(self):
        self.count = torch.zeros(())

    def state_dict(self):
        return {"count": self.count.clone()}

    def load_state_dict(self, state):
        self.count = state["count"].clone()


class Holder(SupervisedPlugin):
    state_key = "holder"
    state_components = ("memory", "other")

    def __init__(self):
        self.memory, self.other = Counter(), Counter()


def test_the_state_is_each_components_under_its_attribute_name():
    plugin = Holder()
    plugin.memory.count += 3
    assert set(plugin.state_dict()) == {"memory", "other"}
    restored = state_round_trip(plugin, Holder())
    assert restored.memory.count == 3 and restored.other.count == 0


def test_a_state_with_other_parts_is_refused_naming_them():
    with pytest.raises(CheckpointError, match=r"Holder keeps state \['memory', 'other'\]"):
        Holder().load_state_dict({"memory": {"count": torch.zeros(())}})
    with pytest.raises(CheckpointError, match=r"keeps state \[\], got \['x'\]"):
        SupervisedPlugin().load_state_dict({"x": 1})
