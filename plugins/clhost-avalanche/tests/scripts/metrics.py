"""Avalanche-style script: every supported metric family on a 3-experience stream.

Prints ``KEYS <json list of the eval() dictionary's keys>`` and
``RESULT metrics <stream accuracy> <seconds>``.
"""

import json
import sys
import time

import torch
from _data import blobs
from avalanche.benchmarks import nc_benchmark
from avalanche.evaluation.metrics import (
    accuracy_metrics,
    bwt_metrics,
    confusion_matrix_metrics,
    forgetting_metrics,
    forward_transfer_metrics,
    loss_metrics,
    timing_metrics,
)
from avalanche.models import SimpleMLP
from avalanche.training import Naive
from avalanche.training.plugins import EvaluationPlugin

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
torch.manual_seed(seed)
train = torch.utils.data.TensorDataset(*blobs(seed=seed))
test = torch.utils.data.TensorDataset(*blobs(n_per_class=30, seed=seed + 100))
train.targets, test.targets = train.tensors[1], test.tensors[1]
benchmark = nc_benchmark(train, test, 3, task_labels=False, fixed_class_order=[0, 1, 2, 3, 4, 5])

torch.manual_seed(seed)  # the generators may draw from the global generator
model = SimpleMLP(num_classes=6, input_size=16, hidden_size=64, drop_rate=0.0)
evaluator = EvaluationPlugin(
    accuracy_metrics(minibatch=True, epoch=True, epoch_running=True, experience=True, stream=True),
    loss_metrics(minibatch=True, epoch=True, epoch_running=True, experience=True, stream=True),
    timing_metrics(epoch=True, experience=True, stream=True),
    forgetting_metrics(experience=True, stream=True),
    bwt_metrics(experience=True, stream=True),
    forward_transfer_metrics(experience=True, stream=True),
    confusion_matrix_metrics(num_classes=6, save_image=False, stream=True),
    loggers=[],
)
strategy = Naive(
    model=model,
    optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
    criterion=torch.nn.CrossEntropyLoss(),
    train_mb_size=16,
    train_epochs=2,
    eval_mb_size=64,
    evaluator=evaluator,
    eval_every=0,
)
start = time.perf_counter()
strategy.eval(benchmark.test_stream)
for experience in benchmark.train_stream:
    strategy.train(experience, eval_streams=[benchmark.test_stream])
    results = strategy.eval(benchmark.test_stream)
seconds = time.perf_counter() - start
print("KEYS " + json.dumps(sorted(results)))
accuracy = results["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
print(f"RESULT metrics {accuracy:.4f} {seconds:.2f}")
forgetting = results["StreamForgetting/eval_phase/test_stream"]
bwt = results["StreamBWT/eval_phase/test_stream"]
print(f"CHECK forgetting={forgetting:.4f} bwt={bwt:.4f}")
