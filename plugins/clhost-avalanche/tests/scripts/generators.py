"""Avalanche-style script: the benchmark generators on tensors, trained with Naive.

Prints ``STREAMS <json>`` (experiences, classes and task labels per generator) and
``RESULT <generator> <stream accuracy> <seconds>`` for each.
"""

import json
import sys
import time

import torch
from _data import blobs
from avalanche.benchmarks import (
    benchmark_from_datasets,
    class_incremental_benchmark,
    dataset_benchmark,
    nc_benchmark,
    ni_benchmark,
    tensors_benchmark,
)
from avalanche.benchmarks.utils import as_classification_dataset
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.models import SimpleMLP
from avalanche.training import Naive
from avalanche.training.plugins import EvaluationPlugin

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
torch.manual_seed(seed)
x, y = blobs(seed=seed)
tx, ty = blobs(n_per_class=30, seed=seed + 100)
train, test = torch.utils.data.TensorDataset(x, y), torch.utils.data.TensorDataset(tx, ty)
train.targets, test.targets = y, ty


def halves(data_x, data_y):
    low = data_y < 3
    return [(data_x[low], data_y[low]), (data_x[~low], data_y[~low])]


def datasets(pairs):
    sets = []
    for px, py in pairs:
        dataset = torch.utils.data.TensorDataset(px, py)
        dataset.targets = py
        sets.append(as_classification_dataset(dataset))
    return sets


order = [0, 1, 2, 3, 4, 5]
benchmarks = {
    "nc_benchmark": nc_benchmark(train, test, 3, task_labels=False, fixed_class_order=order),
    "nc_benchmark_tasks": nc_benchmark(train, test, 3, task_labels=True, fixed_class_order=order),
    "ni_benchmark": ni_benchmark(train, test, 3, shuffle=False),
    "tensors_benchmark": tensors_benchmark(halves(x, y), halves(tx, ty), task_labels=[0, 0]),
    "dataset_benchmark": dataset_benchmark(datasets(halves(x, y)), datasets(halves(tx, ty))),
    "benchmark_from_datasets": benchmark_from_datasets(
        train=datasets(halves(x, y)), test=datasets(halves(tx, ty))
    ),
    "class_incremental_benchmark": class_incremental_benchmark(
        {"train": as_classification_dataset(train), "test": as_classification_dataset(test)},
        class_order=order,
        num_experiences=3,
    ),
}
streams = {
    name: [
        [
            len(e.dataset),
            sorted({int(c) for c in e.dataset.targets}),
            [int(t) for t in getattr(e, "task_labels", [0])],
        ]
        for e in benchmark.train_stream
    ]
    + [len(benchmark.test_stream)]
    for name, benchmark in benchmarks.items()
}
print("STREAMS " + json.dumps(streams, sort_keys=True))
for name, benchmark in benchmarks.items():
    torch.manual_seed(seed)
    model = SimpleMLP(num_classes=6, input_size=16, hidden_size=64, drop_rate=0.0)
    strategy = Naive(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        train_mb_size=16,
        train_epochs=3,
        eval_mb_size=64,
        evaluator=EvaluationPlugin(accuracy_metrics(stream=True), loggers=[]),
    )
    start = time.perf_counter()
    for experience in benchmark.train_stream:
        strategy.train(experience)
    results = strategy.eval(benchmark.test_stream)
    seconds = time.perf_counter() - start
    accuracy = [v for k, v in results.items() if k.startswith("Top1_Acc_Stream")][-1]
    print(f"RESULT {name} {accuracy:.4f} {seconds:.2f}")
