"""Avalanche-style script: Naive, Replay and EWC on a 3-experience class-incremental stream.

Prints one line per strategy: ``RESULT <name> <stream accuracy> <seconds>``.
"""

import sys
import time

import torch
from _data import blobs
from avalanche.benchmarks import nc_benchmark
from avalanche.evaluation.metrics import accuracy_metrics, loss_metrics
from avalanche.models import SimpleMLP
from avalanche.training import EWC, Naive, Replay
from avalanche.training.plugins import EvaluationPlugin

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
torch.manual_seed(seed)
train = torch.utils.data.TensorDataset(*blobs(seed=seed))
test = torch.utils.data.TensorDataset(*blobs(n_per_class=30, seed=seed + 100))
train.targets, test.targets = train.tensors[1], test.tensors[1]
benchmark = nc_benchmark(train, test, 3, task_labels=False, fixed_class_order=[0, 1, 2, 3, 4, 5])

for name, cls, extra in (
    ("Naive", Naive, {}),
    ("Replay", Replay, {"mem_size": 60}),
    ("EWC", EWC, {"ewc_lambda": 10.0}),
):
    torch.manual_seed(seed)
    model = SimpleMLP(num_classes=6, input_size=16, hidden_size=64, drop_rate=0.0)
    evaluator = EvaluationPlugin(
        accuracy_metrics(experience=True, stream=True), loss_metrics(stream=True), loggers=[]
    )
    strategy = cls(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        criterion=torch.nn.CrossEntropyLoss(),
        train_mb_size=16,
        train_epochs=3,
        eval_mb_size=64,
        evaluator=evaluator,
        **extra,
    )
    start = time.perf_counter()
    for experience in benchmark.train_stream:
        strategy.train(experience)
    results = strategy.eval(benchmark.test_stream)
    seconds = time.perf_counter() - start
    accuracy = results["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
    print(f"RESULT {name} {accuracy:.4f} {seconds:.2f}")
