"""Avalanche-style script: a custom SupervisedPlugin reading the strategy's state.

The plugin counts experiences and minibatches, checks the minibatch it sees and adds an
L2 penalty to the loss in ``before_backward``. Prints ``PLUGIN <json>`` and
``RESULT plugin <stream accuracy> <seconds>``.
"""

import json
import sys
import time

import torch
from _data import blobs
from avalanche.benchmarks import nc_benchmark
from avalanche.core import SupervisedPlugin
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.models import SimpleMLP
from avalanche.training import Naive
from avalanche.training.plugins import EvaluationPlugin


class CountingL2(SupervisedPlugin):
    def __init__(self, weight):
        super().__init__()
        self.weight = weight
        self.experiences, self.iterations, self.samples, self.counters = [], 0, 0, []

    def before_training_exp(self, strategy, **kwargs):
        self.experiences.append(strategy.experience.current_experience)
        self.counters.append(strategy.clock.train_exp_counter)

    def before_forward(self, strategy, **kwargs):
        self.samples += len(strategy.mb_x)
        assert strategy.mb_x.shape[0] == strategy.mb_y.shape[0]

    def before_backward(self, strategy, **kwargs):
        penalty = sum((p**2).sum() for p in strategy.model.parameters())
        strategy.loss = strategy.loss + self.weight * penalty

    def after_training_iteration(self, strategy, **kwargs):
        self.iterations += 1


seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
torch.manual_seed(seed)
train = torch.utils.data.TensorDataset(*blobs(seed=seed))
test = torch.utils.data.TensorDataset(*blobs(n_per_class=30, seed=seed + 100))
train.targets, test.targets = train.tensors[1], test.tensors[1]
benchmark = nc_benchmark(train, test, 3, task_labels=False, fixed_class_order=[0, 1, 2, 3, 4, 5])
torch.manual_seed(seed)  # the generators may draw from the global generator
model = SimpleMLP(num_classes=6, input_size=16, hidden_size=64, drop_rate=0.0)
plugin = CountingL2(weight=1e-3)
strategy = Naive(
    model=model,
    optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
    train_mb_size=16,
    train_epochs=3,
    eval_mb_size=64,
    plugins=[plugin],
    evaluator=EvaluationPlugin(accuracy_metrics(stream=True), loggers=[]),
)
start = time.perf_counter()
for experience in benchmark.train_stream:
    strategy.train(experience)
results = strategy.eval(benchmark.test_stream)
seconds = time.perf_counter() - start
state = {
    "experiences": plugin.experiences,
    "counters": plugin.counters,
    "iterations": plugin.iterations,
    "samples": plugin.samples,
}
print("PLUGIN " + json.dumps(state))
accuracy = results["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
print(f"RESULT plugin {accuracy:.4f} {seconds:.2f}")
