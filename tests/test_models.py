"""Reference models: the slim ResNet-18, and dynamic heads that grow with the stream."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from clhost.data import Experience, TensorData
from clhost.models import (
    IncrementalClassifier,
    IncrementalMLP,
    MultiHeadClassifier,
    MultiHeadMLP,
    MultiTaskModule,
    SlimResNet18,
    adapt_model,
    refresh_optimizer,
)
from clhost.templates import SupervisedTemplate
from clhost.testing import toy_benchmark


def experience(classes, tasks=(0,), seen=None) -> Experience:
    data = TensorData(torch.zeros(len(classes), 4), torch.tensor(classes))
    seen = tuple(sorted(set(classes) | set(seen or ())))
    return Experience(data, 0, "train", tuple(classes), tuple(tasks), classes_seen_so_far=seen)


# --- SlimResNet18 ------------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "size"), [(3, 32), (1, 28), (3, 28)])
def test_slim_resnet_takes_cifar_and_mnist_sized_images(channels, size):
    torch.manual_seed(0)
    model = SlimResNet18(num_classes=7, in_channels=channels)
    x = torch.randn(3, channels, size, size)
    assert model(x).shape == (3, 7)
    assert model.features(x).shape == (3, 160)  # 8 * nf with the paper's nf=20


def test_slim_resnet_has_the_reduced_size_and_trains():
    n_parameters = sum(p.numel() for p in SlimResNet18(num_classes=10).parameters())
    assert 1.0e6 < n_parameters < 1.2e6  # GEM's reduced ResNet-18 (vs 11M for ResNet-18)
    torch.manual_seed(0)
    model = SlimResNet18(num_classes=2, nf=4)
    assert sum(p.numel() for p in model.parameters()) < n_parameters / 20
    x, y = torch.randn(8, 3, 16, 16), torch.arange(8) % 2
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(10):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 2


def test_slim_resnet_rejects_wrong_input_shapes():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        SlimResNet18()(torch.randn(2, 3 * 32 * 32))
    with pytest.raises(ValueError, match="nf"):
        SlimResNet18(nf=0)


# --- IncrementalClassifier ---------------------------------------------------------------


def test_incremental_classifier_grows_to_the_classes_seen_and_keeps_old_units():
    torch.manual_seed(0)
    head = IncrementalClassifier(4, initial_out_features=2)
    old_weight, old_bias = head.classifier.weight.detach().clone(), head.classifier.bias.detach()
    head.adaptation(experience([0, 1]))
    assert head.out_features == 2
    head.adaptation(experience([3, 4], seen=[0, 1]))
    assert head.out_features == 5
    assert torch.equal(head.classifier.weight[:2], old_weight)
    assert torch.equal(head.classifier.bias[:2], old_bias)
    head.adaptation(experience([2], seen=[0, 1, 3, 4]))
    assert head.out_features == 5  # never shrinks or regrows for known classes
    assert head(torch.randn(3, 4)).shape == (3, 5)


# --- MultiHeadClassifier -----------------------------------------------------------------


def test_multi_head_classifier_adds_a_head_per_task_and_grows_heads():
    torch.manual_seed(0)
    heads = MultiHeadClassifier(4, initial_out_features=2)
    heads.adaptation(experience([0, 1], tasks=(0,)))
    heads.adaptation(experience([0, 1, 2], tasks=(1,)))
    assert sorted(heads.heads) == ["0", "1"]
    assert (heads.heads["0"].out_features, heads.heads["1"].out_features) == (2, 3)
    first = heads.heads["0"].weight.detach().clone()
    heads.adaptation(experience([0, 1, 2, 3], tasks=(0,)))
    assert heads.heads["0"].out_features == 4
    assert torch.equal(heads.heads["0"].weight[:2], first)


def test_multi_head_classifier_routes_each_sample_to_its_task_head():
    torch.manual_seed(0)
    heads = MultiHeadClassifier(4)
    heads.adaptation(experience([0, 1], tasks=(0,)))
    heads.adaptation(experience([0, 1, 2], tasks=(1,)))
    x, tasks = torch.randn(5, 4), torch.tensor([0, 1, 1, 0, 1])
    out = heads(x, tasks)
    assert out.shape == (5, 3)
    assert torch.equal(out[tasks == 1], heads.heads["1"](x[tasks == 1]))
    assert torch.equal(out[tasks == 0, :2], heads.heads["0"](x[tasks == 0]))
    assert torch.all(out[tasks == 0, 2] == torch.finfo(out.dtype).min)
    assert torch.equal(heads(x[:1], torch.tensor([0])), heads.heads["0"](x[:1]))
    with pytest.raises(KeyError, match="no head for task 7"):
        heads(x, torch.tensor([0, 7, 7, 0, 1]))


# --- refresh_optimizer -------------------------------------------------------------------


def stepped(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> None:
    optimizer.zero_grad()
    model(x).sum().backward()
    optimizer.step()


def test_a_multi_task_module_splits_mixed_minibatches_by_task():
    class TaskWidth(MultiTaskModule):  # task t: t + 1 outputs, each x + t
        def forward_single_task(self, x, task):
            return x.new_full((len(x), task + 1), float(task)) + x

    x, tasks = torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([2, 0, 2])
    lowest = torch.finfo(torch.float32).min
    expected = torch.tensor([[3.0, 3.0, 3.0], [2.0, lowest, lowest], [5.0, 5.0, 5.0]])
    assert torch.equal(TaskWidth()(x, tasks), expected)
    assert torch.equal(TaskWidth()(x[:1], tasks[:1]), torch.full((1, 3), 3.0))


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.optim.Adam(p, lr=0.01),
        lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
    ],
)
def test_refresh_optimizer_keeps_the_state_of_unchanged_parameters(make):
    torch.manual_seed(0)
    model = IncrementalMLP(input_size=4, hidden_sizes=(8,), initial_out_features=2)
    optimizer = make(model.parameters())
    stepped(model, optimizer, torch.randn(6, 4))
    body = model.features[1].weight
    body_state = {k: v.clone() for k, v in optimizer.state[body].items()}
    old_head = model.classifier.classifier.weight
    old_head_state = {k: v.clone() for k, v in optimizer.state[old_head].items()}

    before = dict(model.named_parameters())
    adapt_model(model, experience([2, 3], seen=[0, 1]))
    refresh_optimizer(optimizer, before, model)

    new_head = model.classifier.classifier.weight
    assert new_head is not old_head and new_head.shape == (4, 8)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    assert {id(p) for p in params} == {id(p) for p in model.parameters()}
    assert old_head not in optimizer.state
    for key, value in body_state.items():  # untouched parameter: same state
        assert torch.equal(optimizer.state[body][key], value)
    for key, value in old_head_state.items():  # grown parameter: old rows kept, new rows zero
        grown = optimizer.state[new_head][key]
        if value.dim() == 2:
            assert torch.equal(grown[:2], value) and torch.all(grown[2:] == 0)
        else:
            assert torch.equal(grown, value)  # e.g. Adam's step count
    stepped(model, optimizer, torch.randn(6, 4))  # and the optimizer still steps


def test_refresh_optimizer_adds_new_heads_and_drops_removed_parameters():
    torch.manual_seed(0)
    model = MultiHeadMLP(input_size=4, hidden_sizes=(8,))
    adapt_model(model, experience([0, 1], tasks=(0,)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(3, 4), torch.zeros(3, dtype=torch.long)).sum().backward()
    optimizer.step()
    before = dict(model.named_parameters())
    adapt_model(model, experience([0, 1], tasks=(1,)))
    refresh_optimizer(optimizer, before, model)
    params = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(model.classifier.heads["1"].weight) in params
    assert len(params) == len(list(model.parameters()))

    before = dict(model.named_parameters())
    removed = model.classifier.heads.pop("0")
    refresh_optimizer(optimizer, before, model)
    params = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(removed.weight) not in params and removed.weight not in optimizer.state


def test_refresh_optimizer_does_not_add_a_parameter_twice():
    torch.manual_seed(0)
    model = MultiHeadMLP(input_size=4, hidden_sizes=(8,))
    before = dict(model.named_parameters())
    adapt_model(model, experience([0, 1], tasks=(0,)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # built after the new head
    refresh_optimizer(optimizer, before, model)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    assert len(params) == len({id(p) for p in params}) == len(list(model.parameters()))


# --- growth inside the template ----------------------------------------------------------


def test_template_grows_an_incremental_model_and_learns_each_experience():
    torch.manual_seed(0)
    benchmark = toy_benchmark(3, 2, n_features=8)
    model = IncrementalMLP(input_size=8, hidden_sizes=(16,), initial_out_features=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    strategy = SupervisedTemplate(model=model, optimizer=optimizer, train_epochs=3)
    widths = []
    for exp in benchmark.train_stream:
        strategy.train(exp)
        widths.append(model.classifier.out_features)
        current = strategy.eval(benchmark.test_stream[exp.current_experience])
        assert current.metrics["accuracy"] > 0.9
    assert widths == [2, 4, 6]
    assert int(optimizer.state[model.features[1].weight]["step"]) == 3 * 3 * 4  # never reset


def test_template_trains_one_head_per_task():
    torch.manual_seed(0)
    benchmark = toy_benchmark(3, 2, n_features=8, task_labels=True)
    model = MultiHeadMLP(input_size=8, hidden_sizes=(16,))
    strategy = SupervisedTemplate(
        model=model, optimizer=torch.optim.Adam(model.parameters(), lr=0.01), train_epochs=3
    )
    for exp in benchmark.train_stream:
        strategy.train(exp)
    assert sorted(model.classifier.heads) == ["0", "1", "2"]
    result = strategy.eval(benchmark.test_stream)
    assert all(result.per_experience[i]["accuracy"] > 0.9 for i in range(3))


def test_multi_head_evaluates_untrained_tasks_without_changing_the_model():
    benchmark = toy_benchmark(n_experiences=2, task_labels=True)
    classifier = MultiHeadClassifier(in_features=8, initial_out_features=2)
    classifier.adaptation(benchmark.train_stream[0])
    x, t = torch.randn(6, 8), torch.tensor([0, 0, 0, 1, 1, 1])
    classifier.eval()
    scores = classifier(x, t)
    assert torch.equal(scores[3:], torch.zeros(3, 2))  # task 1 has no head yet
    assert list(classifier.heads) == ["0"]
    classifier.train()
    with pytest.raises(KeyError, match="no head for task 1"):
        classifier(x, t)
