"""BiC: the bias layer touches only the new classes, validation samples are never trained
on, the loss mixes criterion and distillation by lambda, the second stage leaves the model
frozen and removes the bias toward new classes; resume, composition, errors, effect."""

from copy import deepcopy

import pytest
import torch
from torch.nn import functional as F

from clhost import hookimpl
from clhost import testing as kit
from clhost.benchmarks import permuted_digits, split_digits
from clhost.errors import ParameterError, PluginCompositionError
from clhost.models import MultiHeadMLP, SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.rehearsal import ExemplarsBuffer
from clhost_bic import BiasLayer, BiC, BiCPlugin
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_lr_scheduler import LRSchedulerPlugin


@pytest.fixture(scope="module")
def digits():
    return split_digits(n_experiences=5, seed=0)


def build(cls=BiC, *, n_classes=10, inputs=64, epochs=5, **kwargs):
    """``cls`` on a seeded MLP with SGD (``lr``, ``seed`` and the rest go to
    ``seeded_strategy``)."""
    return kit.seeded_strategy(
        cls, model=lambda: SimpleMLP(n_classes, inputs, (64,)), train_epochs=epochs, **kwargs
    )


def build_toy(**kwargs):
    kwargs.setdefault("mem_size", 40)
    kwargs.setdefault("val_percentage", 0.25)
    return build(n_classes=6, inputs=8, lr=0.1, epochs=2, train_mb_size=16, **kwargs)


class Recorder(SupervisedPlugin):
    """What BiC's training and evaluation look like from a plugin after it."""

    def __init__(self):
        self.batches, self.held_out, self.eval_outputs, self.losses = [], [], [], []

    @hookimpl
    def clhost_before_training_exp(self, strategy):
        self.held_out.append(strategy.plugins[0]._held_out)

    @hookimpl
    def clhost_before_backward(self, strategy):
        self.batches.append(strategy.mbatch)
        self.losses.append(
            (
                strategy.mb_output.detach(),
                strategy.loss.detach(),
                {name: term.detach() for name, term in strategy.loss_terms.items()},
            )
        )

    @hookimpl
    def clhost_after_eval_forward(self, strategy):
        self.eval_outputs.append(strategy.mb_output)


def test_the_bias_layer_scales_and_shifts_the_new_classes_only():
    layer = BiasLayer([2, 3])
    scores = torch.randn(5, 6)
    torch.testing.assert_close(layer(scores), scores)  # starts as the identity
    with torch.no_grad():
        layer.alpha.fill_(2.0)
        layer.beta.fill_(-1.0)
    corrected = layer(scores)
    torch.testing.assert_close(corrected[:, [0, 1, 4, 5]], scores[:, [0, 1, 4, 5]], rtol=0, atol=0)
    torch.testing.assert_close(corrected[:, [2, 3]], 2 * scores[:, [2, 3]] - 1)
    restored = BiasLayer.from_state(layer.state())
    torch.testing.assert_close(restored(scores), corrected)


def test_evaluation_applies_the_learnt_correction_to_the_new_classes_only():
    benchmark = kit.toy_benchmark(3, 2)
    recorder = Recorder()
    strategy = build_toy(plugins=[recorder])
    strategy.train(benchmark.train_stream[:2])
    layer = strategy.plugins[0].bias_layer
    assert layer.classes.tolist() == [2, 3]
    assert (layer.alpha.item(), layer.beta.item()) != (1.0, 0.0), "stage 2 learnt something"
    strategy.eval(benchmark.test_stream[:2])
    x = torch.cat([experience.dataset.x for experience in benchmark.test_stream[:2]])
    with torch.no_grad():
        raw = strategy.model.eval()(x)
    corrected = torch.cat(recorder.eval_outputs)
    torch.testing.assert_close(corrected[:, [0, 1, 4, 5]], raw[:, [0, 1, 4, 5]], rtol=0, atol=0)
    torch.testing.assert_close(corrected[:, [2, 3]], layer.alpha * raw[:, [2, 3]] + layer.beta)


def test_the_validation_split_is_held_out_of_training():
    benchmark = kit.toy_benchmark(3, 2)
    recorder = Recorder()
    strategy = build_toy(plugins=[recorder])
    plugin = strategy.plugins[0]
    strategy.train(benchmark.train_stream)
    held_out = torch.cat([data.x for data in recorder.held_out])
    trained = torch.cat([batch[0] for batch in recorder.batches])
    # 10 validation exemplars shared by the classes seen: 5 each for the first two,
    # then 3, 3, 2, 2 (2 held out per new class), then 2, 2, 2, 2, 1, 1
    assert [len(data) for data in recorder.held_out] == [10, 4, 2]
    assert len(plugin.val_buffer) == 10 and len(plugin.storage_policy) == 30
    assert not (torch.cdist(held_out, trained) == 0).any(), "a held-out sample was trained on"
    assert not (torch.cdist(plugin.val_buffer.buffer.x, plugin.storage_policy.buffer.x) == 0).any()
    assert (torch.cdist(plugin.val_buffer.buffer.x, held_out) == 0).any(dim=1).all()
    n_train = sum(len(e.dataset) for e in benchmark.train_stream) - len(held_out)
    assert len(torch.unique(trained, dim=0)) == n_train, "every other sample was trained on"


def test_the_loss_is_criterion_and_distillation_mixed_by_lambda():
    benchmark = kit.toy_benchmark(3, 2)
    recorder = Recorder()
    strategy = build_toy(plugins=[recorder])
    plugin = strategy.plugins[0]
    strategy.train(benchmark.train_stream[0])
    assert all(not terms for _, _, terms in recorder.losses), "nothing to distil at first"
    strategy.train(benchmark.train_stream[1])
    previous = deepcopy(strategy.model).eval()
    bias = deepcopy(plugin.bias_layer)
    recorder.batches.clear()
    recorder.losses.clear()
    strategy.train(benchmark.train_stream[2])
    assert plugin._weight == pytest.approx(4 / 6)
    for batch, (output, loss, terms) in zip(recorder.batches, recorder.losses, strict=True):
        x, y = batch[0], batch[1]
        criterion = F.cross_entropy(output, y)
        with torch.no_grad():
            targets = bias(previous(x))[:, :4]  # the previous model's corrected scores
        kl = F.kl_div(
            F.log_softmax(output[:, :4] / 2, dim=1),
            F.log_softmax(targets / 2, dim=1),
            reduction="batchmean",
            log_target=True,
        )
        torch.testing.assert_close(terms["bic-distillation"], 4 / 6 * kl)
        torch.testing.assert_close(loss, (1 - 4 / 6) * criterion + 4 / 6 * kl)


def test_a_fixed_lambda_replaces_the_ratio_of_old_classes():
    assert BiCPlugin(mem_size=40, lamb=0.3).distillation_weight(4, 6) == 0.3
    assert BiCPlugin(mem_size=40).distillation_weight(4, 6) == pytest.approx(4 / 6)
    assert BiCPlugin(mem_size=40).distillation_weight(0, 2) == 0


def test_an_experience_of_classes_seen_before_is_learnt_not_only_distilled():
    """Domain-incremental: every experience brings the same classes, so none is old. Its
    classes are learnt from their labels: lambda is 0, nothing to correct. (Taking every
    class seen before as old gave lambda = 1, and the model stopped learning.)"""
    benchmark = permuted_digits(2, seed=0)
    recorder = Recorder()
    strategy = build(mem_size=200, plugins=[recorder])
    strategy.train(benchmark.train_stream[0])
    recorder.losses.clear()
    strategy.train(benchmark.train_stream[1])
    plugin = strategy.plugins[0]
    assert plugin._weight == 0 and plugin.old_classes == []
    assert all(not terms for _, _, terms in recorder.losses), "the loss is the criterion"
    assert (plugin.bias_layer.alpha.item(), plugin.bias_layer.beta.item()) == (1.0, 0.0)
    accuracy = strategy.eval(benchmark.test_stream).per_experience
    assert accuracy[1]["accuracy"] > 0.85, accuracy  # the second permutation is learnt
    assert accuracy[0]["accuracy"] > 0.7, accuracy  # the first is replayed


def test_only_the_classes_an_experience_lacks_are_distilled():
    benchmark = kit.toy_benchmark(3, 2)
    strategy = build_toy()
    plugin = strategy.plugins[0]
    strategy.train(benchmark.train_stream[:2])
    repeated = benchmark.train_stream[1]  # classes 2, 3 again: only 0, 1 are old
    strategy.train(repeated)
    assert plugin.old_classes == [0, 1] and plugin.new_classes == [2, 3]
    assert plugin._weight == pytest.approx(2 / 4)


def test_the_second_stage_leaves_the_model_frozen():
    benchmark = kit.toy_benchmark(2, 2)
    snapshots = []

    class WeightRecorder(SupervisedPlugin):
        @hookimpl
        def clhost_after_training_epoch(self, strategy):
            snapshots.append(deepcopy(strategy.model.state_dict()))

        @hookimpl
        def clhost_after_training_exp(self, strategy):  # runs after BiC's stage 2
            snapshots.append(deepcopy(strategy.model.state_dict()))

    strategy = build_toy(plugins=[WeightRecorder()])
    strategy.train(benchmark.train_stream)
    before, after = snapshots[-2], snapshots[-1]
    for name, tensor in before.items():
        torch.testing.assert_close(after[name], tensor, rtol=0, atol=0)
    assert strategy.plugins[0].bias_layer.alpha.item() != 1.0


def test_the_second_stage_reduces_the_bias_toward_new_classes(digits):
    strategy = build(mem_size=200, evaluator=None)
    for experience in digits.train_stream:
        strategy.train(experience)
    plugin = strategy.plugins[0]
    assert plugin.new_classes == [2, 6]
    old = torch.cat([experience.dataset.x for experience in digits.test_stream[:4]])
    with torch.no_grad():
        raw = strategy.model.eval()(old)
    corrected = plugin.bias_layer(raw)

    def on_new_classes(scores):
        return torch.isin(scores.argmax(1), torch.tensor([2, 6])).float().mean().item()

    assert on_new_classes(raw) > 0.15
    assert on_new_classes(corrected) < 0.5 * on_new_classes(raw)


def test_minibatches_join_replayed_exemplars_once_there_are_some():
    benchmark = kit.toy_benchmark(2, 2)
    recorder = Recorder()
    strategy = build_toy(plugins=[recorder], batch_size=10, batch_size_mem=6)
    strategy.train(benchmark.train_stream[0])
    assert {len(batch[1]) for batch in recorder.batches[:-1]} == {10}
    recorder.batches.clear()
    strategy.train(benchmark.train_stream[1])
    sizes = [len(batch[1]) for batch in recorder.batches]
    assert sizes[0] == 16
    assert all((batch[1][10:] < 2).all() for batch in recorder.batches)


def test_checkpoint_resume_gives_the_same_run(digits):
    resumed = kit.assert_resumes(
        lambda: build(mem_size=100, epochs=2, stage_2_epochs=20, evaluator=None),
        digits.train_stream[:3],
        split=2,
    )
    first, second, third = (e.classes_in_this_experience for e in digits.train_stream[:3])
    assert resumed.plugins[0].bias_layer.classes.tolist() == list(third)
    assert resumed.plugins[0].seen_classes == sorted({*first, *second, *third})


def test_composes_with_a_learning_rate_schedule(digits):
    lrs = []

    class LRRecorder(SupervisedPlugin):
        @hookimpl
        def clhost_before_training_epoch(self, strategy):
            lrs.append(strategy.optimizer.param_groups[0]["lr"])

    scheduler = LRSchedulerPlugin("step", step_size=1, gamma=0.5)
    strategy = build(mem_size=200, epochs=3, plugins=[scheduler, LRRecorder()])
    strategy.train(digits.train_stream[:2])
    assert lrs == [0.05, 0.025, 0.0125] * 2
    assert strategy.plugins[0].bias_layer.classes.tolist() == [5, 7]
    assert strategy.eval(digits.test_stream[:2]).metrics["accuracy"] > 0.8


def test_bic_clearly_beats_naive_finetuning_on_class_incremental_split_digits(digits):
    options = dict(benchmark=digits, model=lambda: SimpleMLP(10, 64, (64,)), train_epochs=5)
    naive = kit.average_accuracy(**options)
    bic = kit.average_accuracy(BiC, **options, mem_size=200)
    assert naive < 0.3
    assert bic > 0.65, (naive, bic)


def test_a_given_storage_policy_must_fit_the_replay_share_and_take_data():
    plugin = BiCPlugin(mem_size=200, storage_policy=ClassBalancedBuffer(180))
    assert plugin.storage_policy.max_size == 180 and plugin.val_buffer.max_size == 20
    with pytest.raises(ParameterError, match="give a buffer of 180"):
        BiCPlugin(mem_size=200, storage_policy=ClassBalancedBuffer(200))

    class StrategyOnly(ExemplarsBuffer):
        def update(self, strategy):
            pass

        def resize(self, strategy, new_size):
            pass

    with pytest.raises(ParameterError, match="update_from_data"):
        BiCPlugin(mem_size=200, storage_policy=StrategyOnly(180))
    with pytest.raises(ParameterError, match="storage_policy must be an ExemplarsBuffer"):
        BiCPlugin(mem_size=200, storage_policy=[])


def test_the_old_name_buffer_still_works_with_a_warning():
    buffer = ClassBalancedBuffer(180)
    with pytest.warns(DeprecationWarning, match="buffer is now called storage_policy"):
        assert BiCPlugin(mem_size=200, buffer=buffer).storage_policy is buffer
    with pytest.warns(DeprecationWarning, match="buffer is now called storage_policy"):
        strategy = build(BiC, mem_size=200, buffer=buffer)
    assert strategy.plugins[0].storage_policy is buffer


def test_bad_parameters_get_clear_errors():
    kit.assert_refuses(
        BiCPlugin,
        {"mem_size": 0},
        ({"mem_size": 5}, "both need one"),
        {"val_percentage": 1.0},
        {"val_percentage": 0},
        ({"T": 0}, "temperature"),
        {"lamb": 1.5},
        {"lamb": -0.5},
        ({"lr": 0}, "lr"),
        {"stage_2_epochs": -1},
        {"batch_size": 0},
        {"batch_size_mem": 2.5},
        ({"task_balanced_dataloader": "yes"}, "task_balanced_dataloader"),
    )


def test_a_multi_task_model_is_refused():
    model = MultiHeadMLP(input_size=8, hidden_sizes=(16,))
    strategy = BiC(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(PluginCompositionError, match="multi-task"):
        strategy.train(kit.toy_benchmark(2, 2, task_labels=True).train_stream[0])
