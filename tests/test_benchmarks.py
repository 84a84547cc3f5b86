"""The benchmark builders and the embedded Split/Permuted Digits benchmarks."""

from __future__ import annotations

import math
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from clhost.benchmarks import (
    class_incremental,
    domain_incremental,
    load_digits,
    permuted,
    permuted_digits,
    split_digits,
    split_online,
    task_incremental,
)
from clhost.data import Experience, TaskLabelled, TensorData
from clhost.errors import ParameterError
from clhost.evaluation import EvalResult
from clhost.models import SimpleMLP
from clhost.templates import SupervisedTemplate


def labelled_data(n_classes: int = 6, per_class: int = 4, features: int = 5) -> TensorData:
    """Sample ``i`` has input ``[i, i, ...]`` so tests can follow samples through builders."""
    y = torch.arange(n_classes).repeat(per_class)
    x = torch.arange(len(y), dtype=torch.float32)[:, None].repeat(1, features)
    return TensorData(x, y)


class ImageList(Dataset):
    """A map-style dataset that is not tensor-backed, like a torchvision dataset."""

    def __init__(self, data: TensorData):
        self.samples = [(data.x[i], int(data.y[i])) for i in range(len(data))]
        self.targets = [y for _, y in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.samples[index]


def order_of(benchmark) -> list[int]:
    return [c for exp in benchmark.train_stream for c in exp.classes_in_this_experience]


# --- class-incremental -------------------------------------------------------------------


def test_seeded_class_order_is_deterministic_and_differs_across_seeds():
    data = labelled_data(10)
    orders = {seed: order_of(class_incremental(data, data, 5, seed=seed)) for seed in range(4)}
    assert order_of(class_incremental(data, data, 5, seed=2)) == orders[2]
    assert len({tuple(order) for order in orders.values()}) == 4
    assert order_of(class_incremental(data, data, 5)) == list(range(10))  # no seed: ascending


def test_fixed_class_order_is_honoured_over_the_seed():
    data = labelled_data(6)
    benchmark = class_incremental(data, data, 3, seed=5, fixed_class_order=[4, 0, 5, 2, 1, 3])
    groups = [exp.classes_in_this_experience for exp in benchmark.train_stream]
    assert groups == [(0, 4), (2, 5), (1, 3)]


@pytest.mark.parametrize(
    "order", [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 4], [0, 1, 2, 3, 4, 9], [0, 1, 2, 3, 4, 5, 6]]
)
def test_fixed_class_order_must_list_every_class_once(order):
    data = labelled_data(6)
    with pytest.raises(ParameterError, match="fixed_class_order"):
        class_incremental(data, data, 3, fixed_class_order=order)


def test_every_class_and_sample_lands_in_exactly_one_experience():
    train, test = labelled_data(10, per_class=5), labelled_data(10, per_class=3)
    benchmark = class_incremental(train, test, 5, seed=3)
    for stream, data in ((benchmark.train_stream, train), (benchmark.test_stream, test)):
        classes = [c for exp in stream for c in exp.classes_in_this_experience]
        assert sorted(classes) == list(range(10))
        ids = torch.cat([exp.dataset.x[:, 0] for exp in stream]).long()
        assert sorted(ids.tolist()) == list(range(len(data)))
        for exp in stream:
            assert exp.dataset.classes == list(exp.classes_in_this_experience)
            assert torch.equal(data.y[exp.dataset.x[:, 0].long()], exp.dataset.y)
    test_groups = [exp.classes_in_this_experience for exp in benchmark.test_stream]
    assert test_groups == [exp.classes_in_this_experience for exp in benchmark.train_stream]


def test_previous_and_seen_classes_follow_the_stream():
    benchmark = class_incremental(labelled_data(6), labelled_data(6), 3, seed=1)
    seen: set[int] = set()
    for exp in benchmark.train_stream:
        assert exp.previous_classes == tuple(sorted(seen))
        seen |= set(exp.classes_in_this_experience)
        assert exp.classes_seen_so_far == tuple(sorted(seen))
    assert benchmark.n_classes == 6 and benchmark.input_shape == (5,)
    assert [exp.current_experience for exp in benchmark.test_stream] == [0, 1, 2]


def test_class_incremental_has_task_zero_and_task_incremental_one_task_per_experience():
    data = labelled_data(6)
    for exp in class_incremental(data, data, 3).train_stream:
        assert exp.task_labels == (0,) and exp.dataset.task_set == [0]
    benchmark = task_incremental(data, data, 3, seed=0)
    assert benchmark.name == "task-incremental" and benchmark.n_tasks == 3
    for stream in (benchmark.train_stream, benchmark.test_stream):
        for index, exp in enumerate(stream):
            assert exp.task_labels == (index,) and exp.dataset.task_set == [index]


def test_class_ids_from_zero_in_each_experience():
    data = labelled_data(6)
    benchmark = task_incremental(
        data, data, 3, fixed_class_order=[5, 3, 0, 4, 2, 1], class_ids_from_zero_in_each_exp=True
    )
    assert benchmark.n_classes == 2
    originals = [(5, 3), (0, 4), (2, 1)]
    for exp, original in zip(benchmark.train_stream, originals, strict=True):
        assert exp.classes_in_this_experience == (0, 1) and exp.classes_seen_so_far == (0, 1)
        true_labels = data.y[exp.dataset.x[:, 0].long()]
        for new, old in enumerate(original):  # relabelled in class order
            assert torch.all(exp.dataset.y[true_labels == old] == new)


def test_uneven_split_is_an_error_unless_sizes_are_given():
    data = labelled_data(10)
    with pytest.raises(ParameterError, match="per_exp_classes"):
        class_incremental(data, data, 3)
    sizes = [
        len(e.classes_in_this_experience)
        for e in class_incremental(data, data, 3, per_exp_classes=[4, 3, 3]).train_stream
    ]
    assert sizes == [4, 3, 3]
    by_mapping = class_incremental(data, data, 3, per_exp_classes={0: 6})
    assert [len(e.classes_in_this_experience) for e in by_mapping.train_stream] == [6, 2, 2]
    for bad in ([5, 5, 1], [4, 6], {7: 2}):
        with pytest.raises(ParameterError, match="per_exp_classes"):
            class_incremental(data, data, 3, per_exp_classes=bad)
    with pytest.raises(ParameterError, match="n_experiences"):
        class_incremental(data, data, 11)


def test_test_classes_must_exist_in_train():
    with pytest.raises(ParameterError, match=r"test has classes \[6, 7\]"):
        class_incremental(labelled_data(6), labelled_data(8), 2)


def test_non_tensor_datasets_become_task_labelled_subsets():
    data = labelled_data(6)
    dataset = ImageList(data)
    benchmark = task_incremental(dataset, dataset, 3, seed=4, class_ids_from_zero_in_each_exp=True)
    tensor_benchmark = task_incremental(data, data, 3, seed=4, class_ids_from_zero_in_each_exp=True)
    assert benchmark.input_shape == (5,)
    for exp, reference in zip(benchmark.train_stream, tensor_benchmark.train_stream, strict=True):
        assert isinstance(exp.dataset, TaskLabelled)
        assert exp.classes_in_this_experience == reference.classes_in_this_experience
        assert exp.task_labels == reference.task_labels
        x, y, t = next(iter(DataLoader(exp.dataset, batch_size=len(exp))))
        assert torch.equal(x, reference.dataset.x) and torch.equal(y, reference.dataset.y)
        assert torch.equal(t, reference.dataset.t)


def test_dataset_without_targets_is_a_clear_error():
    class NoTargets(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return torch.zeros(3), index

    with pytest.raises(ParameterError, match=r"no \.targets"):
        class_incremental(NoTargets(), NoTargets(), 2)


# --- domain-incremental ------------------------------------------------------------------


def permutation_seen_in(exp) -> list[int]:
    """Inputs hold ``[0, 1, ..., n-1]``, so a permuted input reads as its permutation."""
    return exp.dataset.x[0].long().tolist()


def test_permutations_are_bijections_that_differ_per_experience():
    n_features = 30
    x = torch.arange(n_features, dtype=torch.float32).repeat(4, 1)
    data = TensorData(x, torch.tensor([0, 1, 0, 1]))
    benchmark = permuted(data, data, 4, seed=7)
    seen = [permutation_seen_in(exp) for exp in benchmark.train_stream]
    assert seen[0] == list(range(n_features))
    for permutation in seen:
        assert sorted(permutation) == list(range(n_features))
    assert len({tuple(p) for p in seen}) == 4
    assert seen == [permutation_seen_in(exp) for exp in benchmark.test_stream]
    assert seen == [permutation_seen_in(e) for e in permuted(data, data, 4, seed=7).train_stream]
    assert seen != [permutation_seen_in(e) for e in permuted(data, data, 4, seed=8).train_stream]
    for exp in benchmark.train_stream:
        assert exp.classes_in_this_experience == (0, 1) and exp.task_labels == (0,)
        assert exp.classes_seen_so_far == (0, 1)


def test_image_permutation_moves_pixels_alike_in_every_channel():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    data = TensorData(x, torch.tensor([0, 1]))
    permuted_x = permuted(data, data, 2, seed=0).train_stream[1].dataset.x
    assert permuted_x.shape == x.shape
    # the pixel order read in channel 0 of sample 0 is the order in every channel and sample
    order = (permuted_x[0, 0].flatten() - x[0, 0].flatten().min()).long()
    for channel in range(3):
        assert torch.equal(permuted_x[:, channel].flatten(1), x[:, channel].flatten(1)[:, order])
    assert not torch.equal(order, torch.arange(16))


def test_permuted_works_on_non_tensor_datasets():
    data = labelled_data(4, features=12)
    dataset = ImageList(data)
    tensors = permuted(data, data, 3, seed=2)
    generic = permuted(dataset, dataset, 3, seed=2)
    for exp, reference in zip(generic.train_stream, tensors.train_stream, strict=True):
        x, y, t = next(iter(DataLoader(exp.dataset, batch_size=len(exp))))
        assert torch.equal(x, reference.dataset.x) and torch.equal(y, reference.dataset.y)
        assert exp.classes_in_this_experience == (0, 1, 2, 3)


def test_domain_incremental_from_given_domains():
    a, b = labelled_data(3), labelled_data(4)
    benchmark = domain_incremental([a, b], [a, b], task_labels=True)
    assert [exp.classes_in_this_experience for exp in benchmark.train_stream] == [
        (0, 1, 2),
        (0, 1, 2, 3),
    ]
    assert [exp.previous_classes for exp in benchmark.train_stream] == [(), (0, 1, 2)]
    assert [exp.task_labels for exp in benchmark.test_stream] == [(0,), (1,)]
    with pytest.raises(ParameterError, match="one dataset per experience"):
        domain_incremental([a, b], [a])


# --- online ------------------------------------------------------------------------------


def test_split_online_sizes_boundaries_and_classes():
    benchmark = class_incremental(labelled_data(4, per_class=5), labelled_data(4), 2)
    online = split_online(benchmark.train_stream, 3)
    assert online.name == "train"
    assert [len(e) for e in online] == [3, 3, 3, 1] * 2  # 10 samples per experience
    assert [e.origin_experience for e in online] == [0] * 4 + [1] * 4
    assert [e.current_experience for e in online] == list(range(8))
    assert [e.is_first_subexp for e in online] == [True, False, False, False] * 2
    assert [e.is_last_subexp for e in online] == [False, False, False, True] * 2
    seen: set[int] = set()
    for exp in online:
        assert exp.classes_in_this_experience == tuple(exp.dataset.classes)
        assert exp.previous_classes == tuple(sorted(seen))
        seen |= set(exp.classes_in_this_experience)
        assert exp.classes_seen_so_far == tuple(sorted(seen))
    kept = torch.cat([e.dataset.x for e in online])
    assert torch.equal(kept, torch.cat([e.dataset.x for e in benchmark.train_stream]))


def test_split_online_shuffle_drop_last_and_task_labels():
    benchmark = task_incremental(labelled_data(4, per_class=5), labelled_data(4), 2)
    online = split_online(benchmark.train_stream, 3, shuffle=True, seed=0, drop_last=True)
    assert [len(e) for e in online] == [3] * 6
    assert [e.task_labels for e in online] == [(0,)] * 3 + [(1,)] * 3
    assert [e.is_last_subexp for e in online] == [False, False, True] * 2
    again = split_online(benchmark.train_stream, 3, shuffle=True, seed=0, drop_last=True)
    other = split_online(benchmark.train_stream, 3, shuffle=True, seed=1, drop_last=True)
    ids = lambda stream: torch.cat([e.dataset.x[:, 0] for e in stream]).tolist()  # noqa: E731
    assert ids(online) == ids(again) != ids(other)
    unshuffled = split_online(benchmark.train_stream, 3)
    assert ids(online) != ids(unshuffled)[: len(ids(online))]


def test_split_online_on_non_tensor_experiences_and_bad_arguments():
    data = labelled_data(4, per_class=5)
    benchmark = task_incremental(ImageList(data), ImageList(data), 2, seed=1)
    online = split_online(benchmark.train_stream, 4)
    reference = split_online(task_incremental(data, data, 2, seed=1).train_stream, 4)
    assert [e.classes_in_this_experience for e in online] == [
        e.classes_in_this_experience for e in reference
    ]
    assert [e.task_labels for e in online] == [e.task_labels for e in reference]
    x, y, t = next(iter(DataLoader(online[3].dataset, batch_size=8)))
    assert torch.equal(y, reference[3].dataset.y) and torch.equal(t, reference[3].dataset.t)
    with pytest.raises(ParameterError, match="experience_size"):
        split_online(benchmark.train_stream, 0)
    with pytest.raises(ParameterError, match="shuffle=True"):
        split_online(benchmark.train_stream, 2, seed=3)


# --- the embedded digits -----------------------------------------------------------------


def test_digits_load_from_the_package_without_download():
    train, test = load_digits()
    assert (len(train), len(test)) == (1438, 359)
    assert train.x.dtype == torch.float32 and train.x.shape[1:] == (64,)
    assert 0.0 <= float(train.x.min()) and float(train.x.max()) == 1.0
    assert train.classes == test.classes == list(range(10))
    # the stored split is stratified: every class holds about 20% of its samples in test
    for label in range(10):
        n_train, n_test = int((train.y == label).sum()), int((test.y == label).sum())
        assert abs(n_test / (n_train + n_test) - 0.2) < 0.01


def test_split_digits_sizes_and_classes():
    benchmark = split_digits()
    assert benchmark.name == "split-digits"
    assert (benchmark.n_classes, benchmark.input_shape, benchmark.n_experiences) == (10, (64,), 5)
    assert sum(len(e) for e in benchmark.train_stream) == 1438
    assert sum(len(e) for e in benchmark.test_stream) == 359
    for train_exp, test_exp in zip(benchmark.train_stream, benchmark.test_stream, strict=True):
        assert isinstance(train_exp.dataset, TensorData)
        assert len(train_exp.classes_in_this_experience) == 2
        assert train_exp.dataset.classes == list(train_exp.classes_in_this_experience)
        assert test_exp.dataset.classes == list(train_exp.classes_in_this_experience)
        assert (train_exp.origin_stream, test_exp.origin_stream) == ("train", "test")
    assert order_of(split_digits(seed=0)) == order_of(benchmark) != order_of(split_digits(seed=1))
    fixed = split_digits(2, fixed_class_order=range(9, -1, -1), task_labels=True)
    assert [e.classes_in_this_experience for e in fixed.train_stream] == [
        (5, 6, 7, 8, 9),
        (0, 1, 2, 3, 4),
    ]
    assert [e.task_labels for e in fixed.test_stream] == [(0,), (1,)]


def test_permuted_digits_keeps_all_classes_and_task_zero():
    benchmark = permuted_digits(3, seed=1)
    train, _ = load_digits()
    first, second = benchmark.train_stream[0].dataset, benchmark.train_stream[1].dataset
    assert benchmark.name == "permuted-digits"
    assert torch.equal(first.x, train.x)
    assert not torch.equal(second.x, train.x)
    assert torch.equal(second.x.sort(dim=1).values, train.x.sort(dim=1).values)
    for exp in benchmark.train_stream:
        assert exp.classes_in_this_experience == tuple(range(10))
        assert exp.task_labels == (0,) and len(exp) == len(train)


def test_digits_benchmarks_are_registered_entry_points():
    found = {ep.name: ep.load() for ep in entry_points(group="clhost.benchmarks")}
    assert found["split-digits"] is split_digits
    assert found["permuted-digits"] is permuted_digits


def naive_and_joint_results() -> tuple[EvalResult, EvalResult]:
    """Fine-tune on each experience in turn, and train once on all of them together."""
    benchmark = split_digits(seed=0)

    def strategy() -> SupervisedTemplate:
        torch.manual_seed(0)
        model = SimpleMLP(num_classes=10, input_size=64, hidden_sizes=(256,))
        return SupervisedTemplate(
            model=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
            train_mb_size=32,
            train_epochs=8,
        )

    naive = strategy()
    for exp in benchmark.train_stream:
        naive.train(exp)
    joint = strategy()
    everything = TensorData.concat([exp.dataset for exp in benchmark.train_stream])
    joint.train(Experience(everything, 0, "train", tuple(range(10))))
    return naive.eval(benchmark.test_stream), joint.eval(benchmark.test_stream)


def test_naive_finetuning_forgets_split_digits_while_joint_training_learns_it():
    naive, joint = naive_and_joint_results()
    assert naive.per_experience[4]["accuracy"] > 0.9  # the last classes are learnt ...
    assert all(naive.per_experience[i]["accuracy"] < 0.1 for i in range(4))  # ... the rest lost
    assert naive.metrics["accuracy"] < 0.3
    assert joint.metrics["accuracy"] > 0.9


# --- benchmarks/parity.py: the parts that run without Avalanche ---------------------------


def parity_module():
    """``benchmarks/parity.py``, imported by path (it is a script, not a package)."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "parity.py"
    spec = importlib.util.spec_from_file_location("parity_script", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_parity_pools_accuracy_over_samples_not_experiences():
    parity = parity_module()
    assert parity.pooled_accuracy([9, 100], [10, 100]) == pytest.approx(109 / 110)
    with pytest.raises(ValueError, match="one count"):
        parity.pooled_accuracy([1], [2, 3])


def test_parity_argmax_loop_counts_every_test_sample_and_uses_task_labels():
    parity = parity_module()
    part = TensorData(torch.eye(3), torch.tensor([0, 1, 0]), torch.tensor([0, 1, 1]))

    class Identity(torch.nn.Module):
        def forward(self, x, t=None):
            return x if t is None else x + 10 * torch.nn.functional.one_hot(t, 3)

    assert parity.argmax_accuracy(Identity(), [part, part], multi_task=False) == pytest.approx(
        2 / 3
    )
    assert parity.argmax_accuracy(Identity(), [part], multi_task=True) == pytest.approx(2 / 3)
    # a model without task labels (an NCM model trained on a multi-head stream) gets x only
    assert parity.argmax_accuracy(torch.nn.Identity(), [part], multi_task=True) == 2 / 3

    class NeedsTasks(torch.nn.Module):  # as PNN's: task labels in every scenario
        def forward(self, x, t):
            return x + 10 * torch.nn.functional.one_hot(t, 3)

    assert parity.argmax_accuracy(NeedsTasks(), [part], multi_task=False) == pytest.approx(2 / 3)


def test_parity_scenarios_give_both_libraries_the_same_tensors():
    parity = parity_module()
    task = parity.make_scenario("task-il", 0)
    assert task.task_labels == [0, 1, 2, 3, 4]
    assert all(part.classes == [0, 1] for part in task.train)  # one 2-way head per task
    online = parity.make_scenario("online", 1)
    pieces = list(online.train_stream)
    assert len(pieces[0]) == parity.ONLINE_SIZE
    # the mini-experiences are consecutive slices of the tensors handed to Avalanche
    first = online.train[0]
    assert torch.equal(pieces[1].dataset.x, first.x[10:20])
    assert not torch.equal(first.x, parity.make_scenario("class-il", 1).train[0].x)  # shuffled
    with pytest.raises(ValueError, match="unknown scenario"):
        parity.make_scenario("nope", 0)


def test_parity_online_parameters_apply_and_key_the_online_scenario_only(monkeypatch):
    """A pair's ``online`` parameters reach both sides in the online scenario only, and
    only its online cache keys change: other scenarios' cached results stay valid."""
    parity = parity_module()
    plain = parity.Pair("LFL", (("lambda_e", "lambda_e", 0.1),))
    online = parity.Pair("LFL", plain.params, online=(("consolidate", "", "piece"),))
    assert online.clhost_kwargs("online") == {"lambda_e": 0.1, "consolidate": "piece"}
    assert online.clhost_kwargs("class-il") == {"lambda_e": 0.1}
    assert online.avalanche_kwargs("online") == {"lambda_e": 0.1}
    keys = {}
    for pair in (plain, online):
        monkeypatch.setitem(parity.STRATEGIES, "lfl", pair)
        keys[pair is online] = [
            parity.cache_key("clhost", "lfl", scenario, "sgd", 0, "src")
            for scenario in ("class-il", "online")
        ]
    assert keys[True][0] == keys[False][0] and keys[True][1] != keys[False][1]


def test_parity_cache_round_trip_skips_cut_lines(tmp_path):
    parity = parity_module()
    path = tmp_path / "cache.jsonl"
    done = parity.Result("clhost", "naive", "class-il", "sgd", 0, accuracy=0.5, key="k1")
    failed = parity.Result("avalanche", "bic", "domain-il", "sgd", 0, error="E: x", key="k2")
    parity.append_cache(path, done)
    parity.append_cache(path, failed)
    path.write_text(path.read_text() + '{"key": "k3", "accur')  # a run killed mid-line
    cached = parity.read_cache(path)
    assert set(cached) == {"k1", "k2"}
    assert cached["k1"].accuracy == 0.5 and math.isnan(cached["k2"].accuracy)


def test_parity_table_flags_lower_accuracy_slower_runs_and_errors():
    parity = parity_module()
    R = parity.Result
    results = [
        R(
            "clhost",
            "replay",
            "class-il",
            "sgd",
            0,
            accuracy=0.80,
            argmax_accuracy=0.80,
            cpu_seconds=2.0,
        ),
        R(
            "avalanche",
            "replay",
            "class-il",
            "sgd",
            0,
            accuracy=0.85,
            argmax_accuracy=0.85,
            cpu_seconds=1.0,
        ),
        R(
            "clhost",
            "naive",
            "class-il",
            "sgd",
            0,
            accuracy=0.2,
            argmax_accuracy=0.2,
            cpu_seconds=1.0,
        ),
        R("avalanche", "naive", "class-il", "sgd", 0, error="TypeError: boom"),
    ]
    text = parity.table(results, "class-il", "sgd", ["replay", "naive"])
    replay = next(line for line in text.splitlines() if line.startswith("| replay"))
    assert "-0.050" in replay and "2.00" in replay
    assert "**accuracy**" in replay and "**slower**" in replay
    naive = next(line for line in text.splitlines() if line.startswith("| naive"))
    assert "Avalanche error (1 of 1): TypeError: boom" in naive and "1/0" in naive
    # a clhost refusal with a reason (a combination it does not support) is no failure
    refused = [
        R("clhost", "scr", "task-il", "sgd", 0, error="ParameterError: no task labels"),
        R("avalanche", "scr", "task-il", "sgd", 0, accuracy=0.9, argmax_accuracy=0.1),
    ]
    row = parity.table(refused, "task-il", "sgd", ["scr"]).splitlines()[-1]
    assert "clhost refuses (1 of 1): ParameterError" in row and "failed" not in row
    # CoPE is compared online only: Avalanche's makes one update per experience
    assert "not compared here" in parity.table(results, "class-il", "sgd", ["cope"])


def test_parity_without_avalanche_exits_with_one_line(monkeypatch):
    import sys

    parity = parity_module()
    monkeypatch.setitem(sys.modules, "avalanche", None)  # import avalanche -> ImportError
    with pytest.raises(SystemExit) as exit_info:
        parity.main(["--quick", "--strategies", "naive"])
    message = str(exit_info.value)
    assert "avalanche-lib==0.6.0" in message and "benchmarks/README.md" in message
    assert "\n" not in message


def test_parity_settings_name_only_registered_strategies():
    from clhost import registry

    parity = parity_module()
    known = {entry.name for entry in registry.list_entries("strategy")}
    assert set(parity.STRATEGIES) <= known


# --- benchmarks/long_stream.py -----------------------------------------------------------


def test_long_stream_script_times_every_experience_on_a_tiny_stream():
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "long_stream.py"
    done = subprocess.run(
        [sys.executable, str(script), "--strategies", "naive,ewc", "--classes", "10",
         "--per-class", "6", "--features", "5", "--no-avalanche", "--per-experience"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split("|") for line in done.stdout.splitlines() if "| clhost |" in line]
    assert [row[1].strip() for row in rows] == ["naive", "ewc"]
    for row in rows:
        total, first, last, growth = (float(cell) for cell in row[3:7])
        assert min(total, first, last) >= 0 and (growth >= 0 or math.isnan(growth))
        assert 0 <= float(row[8]) <= 1  # final accuracy
    times = [line for line in done.stdout.splitlines() if line.startswith("- naive, clhost: ")]
    assert len(times) == 1 and len(times[0].split(": ")[1].split()) == 5  # one per experience
    assert "Avalanche not run" in done.stderr


def test_parity_cached_only_reports_latest_result_under_the_same_settings(tmp_path):
    parity = parity_module()
    path = tmp_path / "cache.jsonl"

    def record(source: str, accuracy: float, key: str | None = None):
        key = key or parity.cache_key("clhost", "naive", "class-il", "sgd", 0, source)
        return parity.Result(
            "clhost", "naive", "class-il", "sgd", 0, accuracy=accuracy, key=key, source=source
        )

    parity.append_cache(path, record("older-sources", 0.4))
    parity.append_cache(path, record("other-settings", 0.9, key="stale"))  # settings changed
    results = parity.run_matrix(
        ["naive"], ["class-il"], ["sgd"], [0], fresh=False, cached_only=True, cache=path
    )
    assert [r.accuracy for r in results] == [0.4]  # nothing ran; Avalanche's cell is missing
