"""Strategies: the native clhost strategy underneath, Avalanche's defaults, train()/eval()
with Avalanche's arguments and results, Avalanche plugins run as clhost hooks."""

from __future__ import annotations

import pytest
import torch

from clhost.errors import PluginCompositionError
from clhost_agem import AGEM as NativeAGEM
from clhost_avalanche import training
from clhost_avalanche._exports import NotSupported
from clhost_avalanche.benchmarks import nc_benchmark, tensors_benchmark
from clhost_avalanche.core import SupervisedPlugin
from clhost_avalanche.evaluation.metrics import accuracy_metrics
from clhost_avalanche.models import SimpleMLP
from clhost_avalanche.training.plugins import EvaluationPlugin
from clhost_ewc import EWC as NativeEWC
from clhost_naive import Naive as NativeNaive
from clhost_replay import Replay as NativeReplay


def blobs(n_per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(4, 8, generator=torch.Generator().manual_seed(0)) * 2
    y = torch.arange(4).repeat_interleave(n_per_class)
    return centers[y] + torch.randn(len(y), 8, generator=generator), y


@pytest.fixture
def benchmark():
    return nc_benchmark(blobs(20, 1), blobs(10, 2), 2, task_labels=False, shuffle=False)


def quiet() -> EvaluationPlugin:
    return EvaluationPlugin(accuracy_metrics(experience=True, stream=True), loggers=[])


def build(cls, **kwargs):
    torch.manual_seed(0)
    model = SimpleMLP(num_classes=4, input_size=8, hidden_size=16, drop_rate=0.0)
    return cls(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


@pytest.mark.parametrize(
    ("layer", "native", "options"),
    [
        (training.Naive, NativeNaive, {}),
        (training.Replay, NativeReplay, {"mem_size": 20}),
        (training.EWC, NativeEWC, {"ewc_lambda": 1.0}),
        (training.AGEM, NativeAGEM, {"patterns_per_exp": 10, "sample_size": 64}),
    ],
)
def test_a_layer_strategy_trains_exactly_as_the_native_one(benchmark, layer, native, options):
    common = {"train_mb_size": 8, "train_epochs": 2, **options}
    ours = build(layer, evaluator=quiet(), **common)
    theirs = build(native, evaluator=None, **common)
    for experience in benchmark.train_stream:
        torch.manual_seed(1)
        ours.train(experience)
        torch.manual_seed(1)
        theirs.train(experience)
    for a, b in zip(ours.model.parameters(), theirs.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_avalanche_defaults_apply_where_clhost_differs():
    assert build(training.Naive, evaluator=quiet()).train_mb_size == 1
    assert build(training.Naive, evaluator=quiet(), train_mb_size=4).train_mb_size == 4
    agem = build(training.AGEM, evaluator=quiet(), patterns_per_exp=5)
    assert agem.plugins[0].sample_size == 64


def test_eval_returns_avalanches_dictionary_with_pooled_stream_accuracy():
    x, y = blobs(20, 1)
    small, large = (x[:10], y[:10]), (x[20:70], y[20:70])
    bench = tensors_benchmark([(x, y), (x, y)], [small, large], task_labels=[0, 0])
    strategy = build(training.Naive, evaluator=quiet(), train_mb_size=8)
    strategy.train(bench.train_stream[0])
    results = strategy.eval(bench.test_stream)
    first = results["Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp000"]
    second = results["Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp001"]
    pooled = results["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
    assert first != second
    assert pooled == pytest.approx((10 * first + 50 * second) / 60)


def test_train_takes_avalanches_loader_keywords(benchmark):
    strategy = build(training.Naive, evaluator=quiet(), train_mb_size=8)
    strategy.train(benchmark.train_stream[0], num_workers=0, pin_memory=False)
    assert strategy.num_workers == 0
    with pytest.raises(NotSupported, match="drop_last"):
        strategy.train(benchmark.train_stream[0], drop_last=True)


def test_default_eval_streams_are_the_trained_experiences(benchmark):
    strategy = build(training.Naive, evaluator=quiet(), train_mb_size=8, eval_every=0)
    results = strategy.train(benchmark.train_stream[0])
    assert "Top1_Acc_Exp/eval_phase/train_stream/Task000/Exp000" in results


def test_an_avalanche_plugin_sees_the_strategy_as_avalanche_shows_it(benchmark):
    class Probe(SupervisedPlugin):
        def __init__(self):
            super().__init__()
            self.seen: list[tuple] = []

        def before_training_exp(self, strategy, **kwargs):
            self.seen.append(("exp", strategy.experience.current_experience, strategy.is_eval))

        def before_backward(self, strategy, **kwargs):
            strategy.loss = strategy.loss * 0.0  # no update at all

        def after_eval_exp(self, strategy, **kwargs):
            self.seen.append(("eval", strategy.experience.current_experience, strategy.is_eval))

    probe = Probe()
    strategy = build(training.Naive, evaluator=quiet(), train_mb_size=8, plugins=[probe])
    before = [p.clone() for p in strategy.model.parameters()]
    strategy.train(benchmark.train_stream[0])
    strategy.eval(benchmark.test_stream[:1])
    assert probe.seen == [("exp", 0, False), ("eval", 0, True)]
    assert all(torch.equal(a, b) for a, b in zip(before, strategy.model.parameters(), strict=True))


def test_a_plugin_callback_the_strategy_never_calls_is_refused():
    class Meta(SupervisedPlugin):
        def before_inner_updates(self, strategy, **kwargs):
            pass

    with pytest.raises(PluginCompositionError, match="Meta implements before_inner_updates"):
        build(training.Naive, evaluator=quiet(), plugins=[Meta()])


def test_the_custom_plugin_script_counts_what_avalanche_counts(run_script, reference):
    assert run_script("plugin").json("PLUGIN") == reference["plugin"]


def test_unsupported_keywords_fail_at_construction():
    with pytest.raises(NotSupported, match="MAS"):
        build(training.MAS, evaluator=quiet(), verbose=True)
    with pytest.raises(TypeError, match="EvaluationPlugin"):
        build(training.Naive, evaluator=object())


BUILT_BY_AVALANCHE = {"LearningToPrompt": {"optimizer"}, "StreamingLDA": {"model", "optimizer"}}
"""Template keywords these Avalanche strategies pass up themselves (giving one fails there)."""


def test_every_strategy_takes_avalanches_keywords(reference):
    """Each strategy accepts every keyword of Avalanche's constructor (recorded from it),
    except those refused with one line unless given Avalanche's default."""
    from clhost._keywords import accepted_keywords

    for name, keywords in reference["strategy_keywords"].items():
        if name not in training.STRATEGIES:
            assert name in training.UNSUPPORTED
            continue
        layer = getattr(training, name)
        missing = set(keywords) - accepted_keywords(layer) - BUILT_BY_AVALANCHE.get(name, set())
        assert missing == set(training.UNSUPPORTED_KEYWORDS.get(name, {})), name


def test_an_unmirrored_keyword_at_avalanches_default_is_accepted():
    strategy = build(training.MAS, evaluator=quiet(), verbose=False)
    assert isinstance(strategy, training.MAS)
    with pytest.raises(NotSupported, match=r"MAS\(verbose=...\)"):
        build(training.MAS, evaluator=quiet(), verbose=True)


def test_early_stopping_reads_avalanches_metric_on_the_validation_stream(benchmark):
    from clhost_avalanche.benchmarks import benchmark_with_validation_stream
    from clhost_avalanche.training.plugins import EarlyStoppingPlugin

    split = benchmark_with_validation_stream(benchmark, 0.25, seed=1)
    stopper = EarlyStoppingPlugin(patience=1, val_stream_name="valid")
    strategy = build(
        training.Naive,
        evaluator=quiet(),
        train_mb_size=8,
        train_epochs=6,
        eval_every=1,
        plugins=[stopper],
    )
    strategy.optimizer.param_groups[0]["lr"] = 0.0  # nothing improves: stop after patience
    results = strategy.train(split.train_stream[0], eval_streams=[split.valid_stream])
    accuracy = results["Top1_Acc_Stream/eval_phase/valid_stream/Task000"]
    assert stopper.history and all(value == accuracy for _, value in stopper.history)
    assert stopper.stopped_at is not None and strategy.clock.train_exp_epochs < 6


def test_lfl_weight_is_converted_to_clhosts_scale():
    """Avalanche's LFL weighs the mean over features, clhost's the half sum: 16 features
    turn Avalanche's 0.1 into 0.1 * 2 / 16."""
    lfl = build(training.LFL, evaluator=quiet(), lambda_e=0.1)
    assert lfl.plugins[0].lambda_e.at(1) == pytest.approx(0.1 * 2 / 16)
    assert lfl.plugins[0].freeze == "last_layer"


def test_a_template_subclass_overrides_a_step_as_in_avalanche(benchmark):
    from clhost_avalanche.training.templates import SupervisedTemplate

    class Frozen(SupervisedTemplate):
        def criterion(self):
            return super().criterion() * 0.0

    strategy = build(Frozen, evaluator=quiet(), train_mb_size=8)
    before = [p.clone() for p in strategy.model.parameters()]
    results = strategy.train(benchmark.train_stream[0])
    assert all(torch.equal(a, b) for a, b in zip(before, strategy.model.parameters(), strict=True))
    assert strategy.train_mb_size == 8 and isinstance(results, dict)


def test_the_clock_has_avalanches_epoch_and_total_iterations(benchmark):
    class Probe(SupervisedPlugin):
        def __init__(self):
            super().__init__()
            self.seen: list[tuple[int, int]] = []

        def after_training_iteration(self, strategy, **kwargs):
            self.seen.append((strategy.mb_it, strategy.clock.train_epoch_iterations))

    probe = Probe()
    strategy = build(
        training.Naive, evaluator=quiet(), train_mb_size=20, train_epochs=2, plugins=[probe]
    )
    strategy.train(benchmark.train_stream[0])  # 40 samples: 2 minibatches per epoch
    assert probe.seen == [(0, 0), (1, 1), (0, 0), (1, 1)]
    strategy.eval(benchmark.test_stream[:1])  # 20 samples: 1 minibatch
    assert strategy.clock.total_iterations == 5
