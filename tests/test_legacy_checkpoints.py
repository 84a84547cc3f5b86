"""Checkpoints written before state keys were declared still load.

The files in ``data/checkpoints_b629dc4`` were written by clhost at b629dc4 (``make.py``
beside them says how): their component keys were derived from class names
(``replay-plugin``, ``co-peplugin``). Each is loaded into the same strategy built by
today's code, and what it holds must come back.
"""

from pathlib import Path

import pytest
import torch

from clhost.checkpoint import load_checkpoint
from clhost.models import SimpleMLP
from clhost.testing import toy_benchmark

HERE = Path(__file__).parent / "data" / "checkpoints_b629dc4"
BENCHMARK = toy_benchmark(n_experiences=2, n_per_class=10, n_features=4)


def common():
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=4, hidden_sizes=(8,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    return dict(model=model, optimizer=optimizer, train_mb_size=8, train_epochs=1, evaluator=None)


def build(name):
    if name == "replay":
        from clhost_buffer_class_balanced import ClassBalancedBuffer
        from clhost_replay import Replay

        return Replay(mem_size=6, storage_policy=ClassBalancedBuffer(max_size=6), **common())
    if name == "ewc":
        from clhost_ewc import EWC

        return EWC(ewc_lambda=10.0, **common())
    if name == "cope":
        from clhost_cope import CoPE

        return CoPE(mem_size=6, n_classes=4, p_size=4, **common())
    if name == "icarl":
        from clhost_icarl import ICaRL

        return ICaRL(memory_size=6, **common())
    from clhost_der import DER

    return DER(mem_size=6, **common())


def held(strategy):
    """A number that only a restored state gives: how many samples or anchors it keeps."""
    plugin = strategy.plugins[0]
    for attribute in ("storage_policy", "buffer", "memory", "importances", "prototypes"):
        value = getattr(plugin, attribute, None)
        if value is not None:
            return len(value)
    raise AssertionError(f"nothing to count on {type(plugin).__name__}")


@pytest.mark.parametrize("name", ["replay", "ewc", "cope", "icarl", "der"])
def test_a_checkpoint_of_b629dc4_loads_and_training_goes_on(name):
    fresh, strategy = build(name), build(name)
    assert load_checkpoint(strategy, HERE / f"{name}.pt", experiences=BENCHMARK.train_stream) == 1
    saved = torch.load(HERE / f"{name}.pt", weights_only=True)
    for key, value in strategy.model.state_dict().items():
        assert torch.equal(value, saved["model"][key])
    assert held(strategy) > 0 and held(strategy) != held(fresh)
    strategy.train(BENCHMARK.train_stream[1])
