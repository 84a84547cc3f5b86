"""clhost.gradients: gradients of a stack of batches in one vectorised pass."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from clhost.gradients import gradient_of, stacked_gradients, trainable_parameters
from clhost.models import MultiHeadMLP, SimpleMLP, adapt_model
from clhost.testing import toy_benchmark


@pytest.mark.parametrize("task", [None, 1])
def test_stacked_gradients_equal_one_backward_pass_per_batch(task):
    torch.manual_seed(0)
    model = MultiHeadMLP(8, (16,)) if task is not None else SimpleMLP(3, 8, (16,))
    if task is not None:
        for experience in toy_benchmark(3, 2, task_labels=True).train_stream:
            adapt_model(model, experience)  # heads 0 and 2 get no gradient: zero columns
    params = trainable_parameters(model)
    x, y = torch.randn(3, 4, 8), torch.randint(0, 2, (3, 4))
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    stacked = stacked_gradients(model, F.cross_entropy, x, y, task)
    assert len(calls) == 1  # one vectorised pass for the three batches
    for k in range(3):
        inputs = (x[k],) if task is None else (x[k], torch.full((4,), task))
        expected = gradient_of(F.cross_entropy(model(*inputs), y[k]), params)
        torch.testing.assert_close(stacked[k], expected)
    assert (stacked != 0).any(dim=1).all()
    assert all(param.grad is None for param in params)
