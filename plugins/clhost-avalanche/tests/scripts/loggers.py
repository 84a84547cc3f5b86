"""Avalanche-style script: TextLogger, CSVLogger and InteractiveLogger on one run.

Usage: ``loggers.py SEED OUT_DIR``. Prints ``LOGS <json>`` (the CSV headers and row
counts, and which keys the text log names) and ``RESULT loggers <accuracy> <seconds>``.
"""

import io
import json
import os
import sys
import time

import torch
from _data import blobs
from avalanche.benchmarks import nc_benchmark
from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics, loss_metrics
from avalanche.logging import CSVLogger, InteractiveLogger, TextLogger
from avalanche.models import SimpleMLP
from avalanche.training import Naive
from avalanche.training.plugins import EvaluationPlugin

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
out = sys.argv[2] if len(sys.argv) > 2 else "logs"
x, y = blobs(seed=seed)
tx, ty = blobs(n_per_class=30, seed=seed + 100)
train, test = torch.utils.data.TensorDataset(x, y), torch.utils.data.TensorDataset(tx, ty)
train.targets, test.targets = y, ty
benchmark = nc_benchmark(train, test, 3, task_labels=False, fixed_class_order=[0, 1, 2, 3, 4, 5])
text = io.StringIO()
evaluator = EvaluationPlugin(
    accuracy_metrics(epoch=True, experience=True, stream=True),
    loss_metrics(epoch=True, experience=True, stream=True),
    forgetting_metrics(experience=True),
    loggers=[TextLogger(text), CSVLogger(os.path.join(out, "csv")), InteractiveLogger()],
)
torch.manual_seed(seed)
model = SimpleMLP(num_classes=6, input_size=16, hidden_size=64, drop_rate=0.0)
strategy = Naive(
    model=model,
    optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
    train_mb_size=16,
    train_epochs=2,
    eval_mb_size=64,
    evaluator=evaluator,
)
start = time.perf_counter()
for experience in benchmark.train_stream:
    strategy.train(experience)
    results = strategy.eval(benchmark.test_stream)
seconds = time.perf_counter() - start
csvs = {}
for name in ("training_results.csv", "eval_results.csv"):
    with open(os.path.join(out, "csv", name)) as handle:
        lines = handle.read().splitlines()
    csvs[name] = {"header": lines[0], "rows": len(lines) - 1}
logged = text.getvalue()
named = sorted(key for key in results if key in logged)
print("LOGS " + json.dumps({"csv": csvs, "text_names": named}, sort_keys=True))
accuracy = results["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
print(f"RESULT loggers {accuracy:.4f} {seconds:.2f}")
